//! `salesforce-sim --port N [--host IP] [--latency-ms N] [--daily-limit N] [--client-id S]
//!                 [--client-secret S] [--jwt-public-key path.pem] [--username S]
//!                 [--long-threshold-ms N] [--concurrent-long-limit N]`
//!
//! Prints `salesforce-sim listening on http://127.0.0.1:N` once it accepts connections, then
//! serves until killed.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use salesforce_sim::SimConfig;

const USAGE: &str = "usage: salesforce-sim --port N [--host IP] [--latency-ms N] \
[--daily-limit N] [--client-id S] [--client-secret S] [--jwt-public-key path.pem] \
[--username S] [--long-threshold-ms N] [--concurrent-long-limit N]";

struct Args {
    addr: SocketAddr,
    config: SimConfig,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut config = SimConfig::zuora360();
    let mut host: IpAddr = [127, 0, 0, 1].into();
    let mut port: Option<u16> = None;
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--port" => port = Some(number(&flag, &value()?)?),
            "--host" => host = value()?.parse().map_err(|_| "--host needs an IP address")?,
            "--latency-ms" => config.latency = Duration::from_millis(number(&flag, &value()?)?),
            "--daily-limit" => config.daily_api_limit = number(&flag, &value()?)?,
            "--client-id" => config.client_id = value()?,
            "--client-secret" => config.client_secret = value()?,
            "--username" => config.username = value()?,
            "--jwt-public-key" => config.jwt_public_key_pem = Some(read(&value()?)?),
            "--long-threshold-ms" => {
                config.long_request_threshold = Duration::from_millis(number(&flag, &value()?)?);
            }
            "--concurrent-long-limit" => config.concurrent_long_limit = number(&flag, &value()?)?,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let port = port.ok_or(USAGE)?;
    Ok(Args {
        addr: SocketAddr::new(host, port),
        config,
    })
}

fn number<T: std::str::FromStr>(flag: &str, text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{flag} needs a number, not {text:?}"))
}

fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|err| format!("{path}: {err}"))
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let sim = match salesforce_sim::spawn(args.config, args.addr).await {
        Ok(sim) => sim,
        Err(err) => {
            eprintln!("salesforce-sim: cannot start on {}: {err}", args.addr);
            return ExitCode::FAILURE;
        }
    };
    println!("salesforce-sim listening on {}", sim.base_url);
    // Runs until the process is killed; Ctrl-C exits cleanly.
    let _ = tokio::signal::ctrl_c().await;
    ExitCode::SUCCESS
}
