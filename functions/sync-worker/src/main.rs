//! sync-worker: see `zuora_sync::app::sync_worker`, which builds exactly the ports this function uses.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    zuora_sync::telemetry::init();
    let function = zuora_sync::app::sync_worker::from_env().await?;
    zuora_sync::app::sync_worker::run(function).await
}
