//! Settings: a refused value names its field and what it allows; updates are optimistic
//! (a stale version writes nothing); the services read what was saved.

use crate::support::*;
use serde_json::{Value, json};
use zuora_sync::core::settings::SettingsUpdate;
use zuora_sync::model::{EVENT_THRESHOLDS, EntitySettings, NotificationLevel, SyncMode};
use zuora_sync::ports::SettingsStore;

/// The refusal of an update body: (field, allowed).
fn refused(body: Value) -> (String, Value) {
    let current = EntitySettings::default();
    let error = match SettingsUpdate::parse(&body) {
        Err(e) => e,
        Ok(update) => update
            .apply(&current, &Default::default())
            .expect_err("the update is refused"),
    };
    (error.field, error.allowed)
}

#[test]
fn refused_values_name_the_field_and_what_it_allows() {
    assert_eq!(
        refused(json!({"version": 0, "max_events_before_sync": 7})),
        ("max_events_before_sync".into(), json!(EVENT_THRESHOLDS))
    );
    assert_eq!(
        refused(json!({"version": 0, "sync_mode": "sometimes"})),
        ("sync_mode".into(), json!(["none", "scheduled", "realtime"]))
    );
    assert_eq!(
        refused(json!({"version": 0, "notification_level": "loud"})),
        (
            "notification_level".into(),
            json!([
                "none",
                "errors_only",
                "all_excluding_zero",
                "all_including_zero"
            ])
        )
    );
    assert_eq!(
        refused(json!({"version": 0, "max_minutes_between_syncs": 0})),
        (
            "max_minutes_between_syncs".into(),
            json!({"min": 1, "max": 1440})
        )
    );
    assert_eq!(
        refused(json!({"version": 0, "min_on_demand_interval_minutes": 1441})),
        (
            "min_on_demand_interval_minutes".into(),
            json!({"min": 0, "max": 1440})
        )
    );
    assert_eq!(
        refused(json!({"version": 0, "hot_sync_enabled": "yes"})),
        ("hot_sync_enabled".into(), json!([true, false]))
    );
    let (field, allowed) = refused(json!({"version": 0, "colour": "blue"}));
    assert_eq!(field, "colour");
    assert!(allowed.as_array().unwrap().contains(&json!("sync_mode")));
    assert_eq!(refused(json!({"sync_mode": "none"})).0, "version");
}

#[test]
fn an_accepted_update_changes_only_its_fields() {
    let update = SettingsUpdate::parse(&json!({
        "version": 3,
        "sync_mode": "realtime",
        "max_events_before_sync": 20,
        "notification_level": "errors_only",
    }))
    .unwrap();
    assert_eq!(update.version, 3);
    let current = EntitySettings::default();
    let next = update.apply(&current, &Default::default()).unwrap();
    assert_eq!(next.sync_mode, SyncMode::Realtime);
    assert_eq!(next.max_events_before_sync, 20);
    assert_eq!(next.notification_level, NotificationLevel::ErrorsOnly);
    assert_eq!(
        EntitySettings {
            sync_mode: current.sync_mode,
            max_events_before_sync: current.max_events_before_sync,
            notification_level: current.notification_level,
            ..next
        },
        current
    );
}

#[tokio::test(start_paused = true)]
async fn a_stale_version_is_refused_and_writes_nothing() {
    let env = Env::new();
    let defaults = env.store.get_settings(&env.entity).await.unwrap();
    assert_eq!((defaults.version, defaults.updated_by), (0, None));
    assert_eq!(defaults.settings, EntitySettings::default());

    let mut realtime = defaults.settings.clone();
    realtime.sync_mode = SyncMode::Realtime;
    let saved = env
        .store
        .put_settings(&env.entity, &realtime, 0, "alice", env.now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(saved.version, 1);

    // Bob read version 0 too: his save is refused with the current version.
    let mut scheduled = defaults.settings.clone();
    scheduled.sync_mode = SyncMode::Scheduled;
    let stale = env
        .store
        .put_settings(&env.entity, &scheduled, 0, "bob", env.now())
        .await
        .unwrap();
    assert_eq!(stale, Err(1));
    let stored = env.settings.get_fresh(&env.entity).await.unwrap();
    assert_eq!(stored.settings.sync_mode, SyncMode::Realtime);
    assert_eq!(stored.updated_by.as_deref(), Some("alice"));

    // A version from the future is refused as well.
    let ahead = env
        .store
        .put_settings(&env.entity, &scheduled, 5, "bob", env.now())
        .await
        .unwrap();
    assert_eq!(ahead, Err(1));
    let next = env
        .store
        .put_settings(&env.entity, &scheduled, 1, "bob", env.now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.version, 2);
}
