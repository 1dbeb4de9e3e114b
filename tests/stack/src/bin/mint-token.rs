//! Prints a local development token:
//! `mint-token [--sub S] [--ttl SECONDS] [--entities "a b"|*] [--roles "sync admin"]`. Reads
//! `JWT_HS256_SECRET`, `JWT_ISSUER` and `JWT_AUDIENCE` (defaults: the local stack's).

use stack::cli::Args;
use stack::token::{DEV_AUDIENCE, DEV_ISSUER, DEV_SECRET, mint_hs256_for};

const USAGE: &str = "\
mint-token: prints an HS256 token the local stack accepts

usage: mint-token [--sub SUBJECT] [--ttl SECONDS] [--entities \"a b\"|*] [--roles \"sync admin\"]

  --sub SUBJECT       the token's subject (default local-dev)
  --ttl SECONDS       lifetime (default 3600)
  --entities LIST     zuora_entities claim, space-separated, or * for all (default *)
  --roles LIST        zuora_roles claim: sync, admin (default \"sync admin\")

environment: JWT_HS256_SECRET, JWT_ISSUER, JWT_AUDIENCE (default: the local stack's)";

fn main() {
    let args = Args::parse(USAGE, &["--sub", "--ttl", "--entities", "--roles"], 0);
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let sub = args.value("--sub").unwrap_or("local-dev").to_string();
    let ttl = match args.value("--ttl").map(str::parse) {
        None => 3600,
        Some(Ok(t)) => t,
        Some(Err(_)) => {
            eprintln!("error: --ttl needs a number of seconds\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    let entities = args.value("--entities").unwrap_or("*").to_string();
    let roles = args.value("--roles").unwrap_or("sync admin").to_string();
    println!(
        "{}",
        mint_hs256_for(
            &env("JWT_HS256_SECRET", DEV_SECRET),
            &env("JWT_ISSUER", DEV_ISSUER),
            &env("JWT_AUDIENCE", DEV_AUDIENCE),
            &sub,
            ttl,
            &entities.split_whitespace().collect::<Vec<_>>(),
            &roles.split_whitespace().collect::<Vec<_>>(),
        )
    );
}
