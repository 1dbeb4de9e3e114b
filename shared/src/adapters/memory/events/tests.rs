use super::*;
use crate::model::{EventStatus, Trigger};

fn entity() -> EntityId {
    EntityId::parse("e").unwrap()
}

/// Events 0..10, one a second; odd ones failed, every third on account B.
fn table() -> EventTable {
    let mut t = EventTable::default();
    for i in 0..10 {
        let status = if i % 2 == 1 {
            EventStatus::Failed
        } else {
            EventStatus::Succeeded
        };
        let at = EpochMillis(1_000 * i);
        let mut e = SyncEvent::new(
            format!("ev{i}"),
            entity(),
            Trigger::Api,
            status,
            "c".into(),
            at,
        );
        e.account_id = Some(if i % 3 == 0 { "B" } else { "A" }.into());
        t.put(&e);
    }
    t
}

fn ids(page: &EventPage) -> Vec<&str> {
    page.events.iter().map(|e| e.id.as_str()).collect()
}

fn query() -> EventQuery {
    EventQuery {
        entity: Some(entity()),
        limit: 100,
        ..EventQuery::default()
    }
}

#[test]
fn every_filter_applies_newest_first_with_inclusive_bounds() {
    let t = table();
    let q = EventQuery {
        account: Some("A".into()),
        status: Some(EventStatus::Failed),
        from: Some(EpochMillis(1_000)),
        to: Some(EpochMillis(7_000)),
        ..query()
    };
    assert_eq!(ids(&t.search(&q).unwrap()), ["ev7", "ev5", "ev1"]);
    let b = EventQuery {
        account: Some("B".into()),
        trigger: Some(Trigger::Api),
        ..query()
    };
    assert_eq!(ids(&t.search(&b).unwrap()), ["ev9", "ev6", "ev3", "ev0"]);
    let none = EventQuery {
        trigger: Some(Trigger::Full),
        ..query()
    };
    assert!(t.search(&none).unwrap().events.is_empty());
}

#[test]
fn pages_follow_their_cursor_which_no_other_search_accepts() {
    let t = table();
    let q = EventQuery {
        status: Some(EventStatus::Succeeded),
        limit: 2,
        ..query()
    };
    let first = t.search(&q).unwrap();
    assert_eq!(ids(&first), ["ev8", "ev6"]);
    let q2 = EventQuery {
        cursor: first.next_cursor.clone(),
        ..q.clone()
    };
    let second = t.search(&q2).unwrap();
    assert_eq!(ids(&second), ["ev4", "ev2"]);
    let q3 = EventQuery {
        cursor: second.next_cursor.clone(),
        ..q.clone()
    };
    let last = t.search(&q3).unwrap();
    assert_eq!(ids(&last), ["ev0"]);
    assert_eq!(last.next_cursor, None);

    let other = EventQuery {
        status: Some(EventStatus::Failed),
        cursor: first.next_cursor,
        ..q.clone()
    };
    assert!(matches!(
        t.search(&other),
        Err(StoreError::InvalidCursor(_))
    ));
    let garbage = EventQuery {
        cursor: Some("not a cursor".into()),
        ..q
    };
    assert!(matches!(
        t.search(&garbage),
        Err(StoreError::InvalidCursor(_))
    ));
}

#[tokio::test]
async fn create_never_overwrites_and_account_events_are_newest_first() {
    let store = MemoryStore::new();
    let first = SyncEvent::new(
        "x".into(),
        entity(),
        Trigger::Api,
        EventStatus::Queued,
        "c".into(),
        EpochMillis(1),
    );
    let mut ran = first.clone();
    ran.status = EventStatus::Succeeded;
    store.put_event(&ran).await.unwrap();
    store.create_event(&first).await.unwrap();
    let got = store.get_event(&entity(), "x").await.unwrap().unwrap();
    assert_eq!(got.status, EventStatus::Succeeded);

    let mut later = first.clone();
    later.id = "y".into();
    later.created_at = EpochMillis(2);
    for mut e in [ran, later] {
        e.account = Some("A9".into());
        store.put_event(&e).await.unwrap();
    }
    let listed = store.account_events(&entity(), "A9", 10).await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["y", "x"]);
    assert!(store.account_events(&entity(), "A9", 0).await.is_err());
}
