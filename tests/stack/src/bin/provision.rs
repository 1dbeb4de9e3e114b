//! Creates the tables and queues (same shapes as template.yaml) in the local emulators and
//! prints `export NAME=value` lines: `provision [--prefix P]`.

use stack::app::aws_clients;
use stack::schema::provision;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let prefix = match args.iter().position(|a| a == "--prefix") {
        Some(i) => args.get(i + 1).cloned().ok_or("--prefix needs a value")?,
        None => "local".to_string(),
    };
    let (aws, _) = aws_clients().await;
    let p = provision(&aws.dynamodb, &aws.sqs, &prefix, 360).await?;
    println!("export MIRROR_TABLE={}", p.tables.mirror);
    println!("export LOCKS_TABLE={}", p.tables.locks);
    println!("export EVENTS_TABLE={}", p.tables.events);
    println!("export STATE_TABLE={}", p.tables.state);
    println!("export SYNC_QUEUE_URL={}", p.queue_url);
    println!("export SYNC_DLQ_URL={}", p.dlq_url);
    Ok(())
}
