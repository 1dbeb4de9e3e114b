//! `zuora-sim --port N [--host IP] [--fixtures path.json] [--latency-ms N]
//!            [--concurrency-limit N] [--not-found-style 404|200] [--aqua-polls-per-step N]`
//!
//! Prints `zuora-sim listening on http://127.0.0.1:N` once it accepts connections, then serves
//! until killed.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use zuora_sim::{NotFoundStyle, SimConfig};

const USAGE: &str = "usage: zuora-sim --port N [--host IP] [--fixtures path.json] \
[--latency-ms N] [--concurrency-limit N] [--not-found-style 404|200] [--aqua-polls-per-step N]";

struct Args {
    addr: SocketAddr,
    config: SimConfig,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut config = SimConfig::demo();
    let mut host: IpAddr = [127, 0, 0, 1].into();
    let mut port: Option<u16> = None;
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--port" => port = Some(number(&flag, &value()?)?),
            "--host" => host = value()?.parse().map_err(|_| "--host needs an IP address")?,
            "--fixtures" => config.fixtures = read_fixtures(&value()?)?,
            "--latency-ms" => config.latency = Duration::from_millis(number(&flag, &value()?)?),
            "--concurrency-limit" => config.concurrency_limit = number(&flag, &value()?)?,
            "--not-found-style" => config.not_found_style = value()?.parse::<NotFoundStyle>()?,
            "--aqua-polls-per-step" => config.aqua_polls_per_step = number(&flag, &value()?)?,
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

fn read_fixtures(path: &str) -> Result<serde_json::Value, String> {
    let text = std::fs::read_to_string(path).map_err(|err| format!("{path}: {err}"))?;
    serde_json::from_str(&text).map_err(|err| format!("{path}: {err}"))
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
    let sim = match zuora_sim::spawn(args.config, args.addr).await {
        Ok(sim) => sim,
        Err(err) => {
            eprintln!("zuora-sim: cannot start on {}: {err}", args.addr);
            return ExitCode::FAILURE;
        }
    };
    println!("zuora-sim listening on {}", sim.base_url);
    // Runs until the process is killed; Ctrl-C exits cleanly.
    let _ = tokio::signal::ctrl_c().await;
    ExitCode::SUCCESS
}
