//! CPU time per process (from `/proc/<pid>/stat`), so a figure says who spent it: the
//! product (the bench process without the simulator's threads), the Zuora simulator (on
//! threads of its own, `zuora_sim::spawn_isolated`), DynamoDB Local and moto.

/// Whose CPU a row counts.
#[derive(Clone, Copy)]
enum Source {
    Process(u32),
    /// This process's threads named `zuora_sim::ISOLATED_THREAD_NAME`.
    SimThreads,
    /// This process without those threads.
    Product,
}

/// A process (or part of this one) the bench watches.
pub struct Watched {
    pub name: &'static str,
    source: Source,
    start: f64,
}

impl Source {
    fn seconds(self) -> Option<f64> {
        match self {
            Self::Process(pid) => cpu_seconds(pid),
            Self::SimThreads => Some(sim_thread_seconds()),
            Self::Product => Some(cpu_seconds(std::process::id())? - sim_thread_seconds()),
        }
    }
}

/// The CPU of this process's simulator threads (a thread that ended is no longer counted: the
/// simulator's live as long as the process).
fn sim_thread_seconds() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    tasks
        .filter_map(|t| {
            let path = t.ok()?.path();
            let comm = std::fs::read_to_string(path.join("comm")).ok()?;
            if !comm.starts_with(zuora_sim::ISOLATED_THREAD_NAME) {
                return None;
            }
            stat_seconds(&std::fs::read_to_string(path.join("stat")).ok()?)
        })
        .sum()
}

/// `utime + stime` in seconds.
fn cpu_seconds(pid: u32) -> Option<f64> {
    stat_seconds(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// `utime + stime` of a `/proc/.../stat` line, in seconds.
fn stat_seconds(stat: &str) -> Option<f64> {
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / ticks_per_second())
}

fn ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(clock_ticks)
}

fn clock_ticks() -> f64 {
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
    let mut out = vec![
        (
            "the product (this process, less the simulator)",
            Some(Source::Product),
        ),
        (
            "the Zuora simulator (its own threads)",
            Some(Source::SimThreads),
        ),
    ];
    if let Some(port) = env_port("AWS_ENDPOINT_URL_DYNAMODB") {
        out.push((
            "DynamoDB Local",
            find(&["DynamoDBLocal.jar", "-port", &port]).map(Source::Process),
        ));
    }
    if let Some(port) = env_port("AWS_ENDPOINT_URL_SQS") {
        out.push((
            "moto (SQS)",
            find(&["moto_server", &port]).map(Source::Process),
        ));
    }
    out.into_iter()
        .filter_map(|(name, source)| {
            let source = source?;
            Some(Watched {
                name,
                source,
                start: source.seconds()?,
            })
        })
        .collect()
}

/// Each watched process's CPU seconds since [`watch`], per 1,000 `units`, and as cores busy
/// over `wall_secs`; answers the product's seconds.
pub fn report(watched: &[Watched], units: u64, wall_secs: f64) -> f64 {
    println!("  CPU by process                        seconds   per 1,000 accounts   cores busy");
    let mut product = 0.0;
    for w in watched {
        let Some(now) = w.source.seconds() else {
            continue;
        };
        let used = now - w.start;
        if matches!(w.source, Source::Product) {
            product = used;
        }
        println!(
            "    {:<46} {:>8.1}   {:>10.2} s    {:>6.2}",
            w.name,
            used,
            used * 1000.0 / units.max(1) as f64,
            used / wall_secs.max(f64::EPSILON)
        );
    }
    product
}
