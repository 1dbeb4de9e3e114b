//! post-login: see `zuora_sync::app::post_login`, which builds exactly the ports this function uses.

/// mimalloc, not glibc's malloc: allocation was a third of the worker's CPU (README, Benchmark).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    zuora_sync::telemetry::init();
    let function = zuora_sync::app::post_login::from_env().await?;
    zuora_sync::app::post_login::run(function).await
}
