//! Creates the tables and queues (same shapes as template.yaml) in the local emulators and
//! prints `export NAME=value` lines: `provision [--prefix P]`.

use stack::app::aws_clients;
use stack::cli::Args;
use stack::schema::provision;

const USAGE: &str = "\
provision: creates the tables and queues of template.yaml in the local emulators and prints
`export NAME=value` lines for them

usage: provision [--prefix PREFIX]

  --prefix PREFIX   name prefix of the tables and queues (default local)

environment: AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_SQS (the emulators), AWS credentials";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse(USAGE, &["--prefix"], 0);
    let prefix = args.value("--prefix").unwrap_or("local").to_string();
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
