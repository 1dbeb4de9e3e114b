//! CPU time per process (from `/proc/<pid>/stat`), so a figure says who spent it: the bench
//! process (the product, with the Zuora and Salesforce simulators it runs in-process),
//! DynamoDB Local and moto.

/// A process the bench watches.
pub struct Watched {
    pub name: &'static str,
    pid: u32,
    start: f64,
}

/// `utime + stime` in seconds.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / ticks_per_second())
}

fn ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// The process whose command line holds every one of `needles` and that has used the most
/// CPU: the emulator itself, not the shell that started it (whose command line names it too).
fn find(needles: &[&str]) -> Option<u32> {
    let matching = std::fs::read_dir("/proc").ok()?.filter_map(|entry| {
        let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        needles.iter().all(|n| cmdline.contains(n)).then_some(pid)
    });
    matching
        .filter_map(|pid| Some((cpu_seconds(pid)?, pid)))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, pid)| pid)
}

/// The port of an endpoint URL in the environment (`http://127.0.0.1:8000` → `8000`).
fn env_port(var: &str) -> Option<String> {
    let url = url::Url::parse(&std::env::var(var).ok()?).ok()?;
    url.port().map(|p| p.to_string())
}

/// The bench process, DynamoDB Local and moto (the emulators scripts/bench.sh started), with
/// their CPU time now.
pub fn watch() -> Vec<Watched> {
    let mut out = vec![(
        "this process (product + simulators)",
        Some(std::process::id()),
    )];
    if let Some(port) = env_port("AWS_ENDPOINT_URL_DYNAMODB") {
        out.push((
            "DynamoDB Local",
            find(&["DynamoDBLocal.jar", "-port", &port]),
        ));
    }
    if let Some(port) = env_port("AWS_ENDPOINT_URL_SQS") {
        out.push(("moto (SQS)", find(&["moto_server", &port])));
    }
    out.into_iter()
        .filter_map(|(name, pid)| {
            let pid = pid?;
            Some(Watched {
                name,
                pid,
                start: cpu_seconds(pid)?,
            })
        })
        .collect()
}

/// Each watched process's CPU seconds since [`watch`], per 1,000 `units`, and as cores busy
/// over `wall_secs`.
pub fn report(watched: &[Watched], units: u64, wall_secs: f64) {
    println!("  CPU by process                        seconds   per 1,000 accounts   cores busy");
    for w in watched {
        let Some(now) = cpu_seconds(w.pid) else {
            continue;
        };
        let used = now - w.start;
        println!(
            "    {:<34} {:>8.1}   {:>12.2} s      {:>6.2}",
            w.name,
            used,
            used * 1000.0 / units.max(1) as f64,
            used / wall_secs.max(f64::EPSILON)
        );
    }
}
