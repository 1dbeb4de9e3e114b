//! Notification decisions: a session that completes records whether its entity's level
//! calls for a summary, and the notifier gets one exactly then; on-demand syncs likewise.

use crate::support::*;
use zuora_sync::core::sync::{AccountOutcome, OnBusy};
use zuora_sync::model::{Channel, NotificationLevel, SessionStatus, SyncMode, Trigger};
use zuora_sync::ports::EventStore;

#[derive(Debug, Clone, Copy)]
enum Outcome {
    /// The job writes records.
    Writes,
    /// The job finds nothing changed.
    NothingWritten,
    /// The job fails (Zuora does not know the account).
    Fails,
}

/// A one-account threshold session ending with `outcome`, at `level`: (recorded decision,
/// summaries sent).
async fn session_at(level: NotificationLevel, outcome: Outcome) -> (Option<bool>, usize) {
    let env = Env::new();
    let channel = Channel::Webhook {
        url: "https://hooks.example.com/zuora-sync".into(),
    };
    env.configure(|s| {
        s.sync_mode = SyncMode::Realtime;
        s.max_events_before_sync = 1;
        s.notification_level = level;
        s.notification_channel = Some(channel.clone());
    })
    .await;
    env.zuora.put_account(account(1));
    let changed = match outcome {
        Outcome::Writes => account_number(1),
        Outcome::NothingWritten => {
            env.sync_now(&key(&account_number(1))).await;
            account_number(1)
        }
        Outcome::Fails => account_number(2),
    };
    env.realtime
        .callout(
            &env.entity,
            "evt-1",
            &key(&changed),
            "c",
            env.now().plus_ms(DEADLINE_MS),
        )
        .await
        .unwrap();
    let job = env.queue.receive().expect("the session's job");
    let _ = env.run(&job).await;

    let session = &env.store.sessions(&env.entity)[0];
    assert_eq!(session.status, SessionStatus::Done);
    assert_eq!(session.notification_level.as_deref(), Some(level.as_str()));
    let sent = env.notifier.sent();
    if session.notify == Some(true) {
        assert_eq!(session.delivery.as_deref(), Some("recorded"));
        let summary = &sent[0].summary;
        assert_eq!(
            (summary.kind.as_str(), summary.id.as_str()),
            ("session", session.id.as_str())
        );
        assert_eq!(sent[0].channel, Some(channel));
        assert_eq!(summary.failed, session.failed);
        assert_eq!(summary.written, session.written);
        if matches!(outcome, Outcome::Fails) {
            assert!(
                summary.failures[0].starts_with(&account_number(2)),
                "{summary:?}"
            );
        }
    } else {
        assert_eq!(session.delivery, None);
    }
    (session.notify, sent.len())
}

#[tokio::test(start_paused = true)]
async fn a_finished_session_notifies_as_its_level_says() {
    use NotificationLevel::*;
    use Outcome::*;
    let table = [
        (None, Writes, false),
        (None, NothingWritten, false),
        (None, Fails, false),
        (ErrorsOnly, Writes, false),
        (ErrorsOnly, NothingWritten, false),
        (ErrorsOnly, Fails, true),
        (AllExcludingZero, Writes, true),
        (AllExcludingZero, NothingWritten, false),
        (AllExcludingZero, Fails, true),
        (AllIncludingZero, Writes, true),
        (AllIncludingZero, NothingWritten, true),
        (AllIncludingZero, Fails, true),
    ];
    for (level, outcome, expected) in table {
        let (recorded, sent) = session_at(level, outcome).await;
        assert_eq!(recorded, Some(expected), "{level:?} {outcome:?}");
        assert_eq!(sent, usize::from(expected), "{level:?} {outcome:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn on_demand_syncs_record_the_decision_and_send_only_when_called_for() {
    let env = Env::new();
    env.configure(|s| s.notification_level = NotificationLevel::ErrorsOnly)
        .await;
    env.zuora.put_account(account(1));
    let req = env.req(Trigger::OnDemand);

    let ok = env
        .sync
        .sync_account(&req, &key(&account_number(1)), OnBusy::Coalesce)
        .await
        .unwrap();
    let AccountOutcome::Synced(report) = ok else {
        panic!("synced");
    };
    let event = env
        .store
        .get_event(&env.entity, &report.event_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(event.notification_level.as_deref(), Some("errors_only"));
    assert_eq!(event.notify, Some(false));
    assert_eq!(env.notifier.count(), 0);

    let failure = env
        .sync
        .sync_account(&req, &key(&account_number(2)), OnBusy::Coalesce)
        .await
        .unwrap_err();
    let event = env
        .store
        .get_event(&env.entity, &failure.event_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(event.notify, Some(true));
    let sent = env.notifier.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].summary.kind.as_str(), sent[0].summary.failed),
        ("on_demand", 1)
    );
    assert_eq!(
        sent[0].channel, None,
        "no channel configured: recorded, not delivered"
    );

    // Real-time and API syncs never send their own summary (their session does).
    env.sync_now(&key(&account_number(1))).await;
    assert_eq!(env.notifier.count(), 1);
}
