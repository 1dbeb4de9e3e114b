//! Prints a local development token:
//! `mint-token [--sub S] [--ttl SECONDS] [--entities "a b"|*] [--roles "sync admin"]`. Reads
//! `JWT_HS256_SECRET`, `JWT_ISSUER` and `JWT_AUDIENCE` (defaults: the local stack's).

use stack::token::{DEV_AUDIENCE, DEV_ISSUER, DEV_SECRET, mint_hs256_for};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let sub = arg(&args, "--sub").unwrap_or_else(|| "local-dev".into());
    let ttl = arg(&args, "--ttl")
        .and_then(|t| t.parse().ok())
        .unwrap_or(3600);
    let entities = arg(&args, "--entities").unwrap_or_else(|| "*".into());
    let roles = arg(&args, "--roles").unwrap_or_else(|| "sync admin".into());
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
