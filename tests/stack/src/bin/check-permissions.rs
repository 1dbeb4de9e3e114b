//! Compares the AWS operations the test suites recorded per function (`ZS_AWS_OPS_DIR`, see
//! `stack::aws_ops`) with each function's role in `template.yaml`, prints the permission table
//! and exits 1 on a missing grant, an unused grant or a wildcard.

use stack::cli::Args;
use stack::permissions::{Verdict, compare, read_recorded, roles};

const USAGE: &str = "\
check-permissions: each function's role in template.yaml against the AWS operations the tests
recorded it doing

usage: check-permissions DIR [TEMPLATE]

  DIR        the directory the test processes recorded into (ZS_AWS_OPS_DIR)
  TEMPLATE   the SAM template (default template.yaml)";

fn main() {
    let args = Args::parse(USAGE, &[], 2);
    let dir = args.positional(0).unwrap_or_else(|| {
        eprintln!("error: DIR is required\n\n{USAGE}");
        std::process::exit(2);
    });
    let template_path = args.positional(1).unwrap_or("template.yaml");
    match check(std::path::Path::new(dir), template_path) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}

fn check(dir: &std::path::Path, template_path: &str) -> Result<bool, String> {
    let text =
        std::fs::read_to_string(template_path).map_err(|e| format!("{template_path}: {e}"))?;
    let template = serde_norway::from_str(&text).map_err(|e| format!("{template_path}: {e}"))?;
    let mut recorded = read_recorded(dir)?;
    let mut ok = true;
    for role in roles(&template)? {
        let used = recorded.remove(&role.function).unwrap_or_default();
        println!("{} ({}):", role.function, role.role);
        if used.is_empty() {
            println!("  FAILED: the tests never ran this function's code");
            ok = false;
        }
        for (permission, verdict) in compare(&role, &used) {
            let mark = if verdict.is_failure() { "FAILED" } else { "ok" };
            ok &= !verdict.is_failure();
            println!(
                "  {mark:<6} {:<34} {:<40} {}",
                permission.action,
                permission.resource,
                describe(verdict)
            );
        }
    }
    for (function, used) in recorded {
        println!(
            "{function}: FAILED: not a function of the template ({} operations)",
            used.len()
        );
        ok = false;
    }
    Ok(ok)
}

fn describe(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Used => "used by the code",
        Verdict::Platform => "used by Lambda for the function (logs, SQS event source)",
        Verdict::Missing => "MISSING: the code needs it, the role does not grant it",
        Verdict::Unused => "UNUSED: granted, nothing uses it",
        Verdict::Wildcard => "WILDCARD: grant it by name",
    }
}
