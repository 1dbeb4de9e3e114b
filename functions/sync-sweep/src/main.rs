//! sync-sweep: see `zuora_sync::app::sync_sweep`, which builds exactly the ports this function uses.
// The sweep's future (reconcile → session → notification through SES) is deep.
#![recursion_limit = "256"]

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    zuora_sync::telemetry::init();
    let function = zuora_sync::app::sync_sweep::from_env().await?;
    zuora_sync::app::sync_sweep::run(function).await
}
