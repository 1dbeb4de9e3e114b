//! Callout → mirror updated, in real time at threshold 1: each round renames an account in
//! the simulator, sends Zuora's callout for it, and observes the mirror until the new name is
//! there (the callout's session, its queued job, a worker loop's receive, the sync's reads and
//! commit). One round at a time, so each latency is that of one change alone.

use base64::Engine;
use stack::app::{AppOptions, CALLOUT_PASSWORD, CALLOUT_USER, TestApp, spawn_app_with};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zuora_sync::ports::MirrorStore;

const CALLOUTS: &str = "/plugins/zuora/entities/default/callouts";
/// Worker loops receiving from the queue, as Lambda's SQS poller would.
const POLLERS: usize = 2;
/// How often the mirror is looked at while a change travels.
const LOOK_EVERY: Duration = Duration::from_millis(2);

fn basic() -> String {
    let pair = format!("{CALLOUT_USER}:{CALLOUT_PASSWORD}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// Until the account's customer record holds `name`.
async fn mirrored(app: &TestApp, account_id: &str, name: &str) {
    let wanted = format!("\"name\":\"{name}\"");
    loop {
        let stored = app
            .services
            .store
            .load_account(&app.entity, account_id)
            .await
            .expect("read the mirror");
        if stored
            .records
            .get("CUSTOMER")
            .is_some_and(|c| c.data.contains(&wanted))
        {
            return;
        }
        tokio::time::sleep(LOOK_EVERY).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub async fn callout_figures(rounds: usize, latency: Duration) {
    let app = Arc::new(
        spawn_app_with(AppOptions {
            queue_visibility_secs: 60,
            ..AppOptions::default()
        })
        .await,
    );
    app.sim.set_latency(latency);
    let (stop, pollers) = super::worker_loops(&app, POLLERS, Duration::from_secs(60));
    let answer = app
        .update_settings(serde_json::json!({"sync_mode": "realtime", "max_events_before_sync": 1}))
        .await;
    assert!(answer["full_sync_session"].is_string(), "{answer}");
    // The switch's full sync has synced every account once: each round below is one change.
    let accounts = [
        ("A00000001", "8a90a1b27c1f4e2d017c2b3c4d5e0001"),
        ("A00000002", "8a90a1b27c1f4e2d017c2b3c4d5e0002"),
    ];
    for (number, id) in accounts {
        let name = app.sim.account(number).expect("a demo account")["name"]
            .as_str()
            .expect("a name")
            .to_string();
        mirrored(&app, id, &name).await;
    }

    let mut latencies = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let (number, id) = accounts[round % accounts.len()];
        let name = format!("Renamed {round}");
        assert!(
            app.sim
                .set_field(number, "name", serde_json::json!(name.clone()))
        );
        let sent = Instant::now();
        let (status, body) = app
            .call_with_body(
                "POST",
                CALLOUTS,
                Some(&basic()),
                Some(serde_json::json!({
                    "AccountNumber": number,
                    "EventId": format!("bench-{round}"),
                    "EventType": "AccountUpdate",
                })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        mirrored(&app, id, &name).await;
        latencies.push(sent.elapsed());
    }
    let _ = stop.send(true);
    for p in pollers {
        let _ = p.await;
    }
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "callout -> mirror updated, threshold 1 ({rounds} callouts one at a time, simulator latency {} ms, {POLLERS} worker loops)",
        latency.as_millis()
    );
    println!(
        "  p50 / p99 / max                    {:>8.1} / {:.1} / {:.1} ms   (goal p99 <= 2000 ms)",
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().expect("rounds ran"))
    );
}
