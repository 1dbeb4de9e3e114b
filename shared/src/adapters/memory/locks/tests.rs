use super::*;
use crate::model::EntityId;
use std::time::Duration;

fn key() -> LockKey {
    LockKey {
        entity: EntityId::parse("e").unwrap(),
        account_id: "acc".into(),
    }
}

fn held(t: &mut LockTable, lease: i64, now: i64) -> HeldLock {
    match t
        .acquire(&key(), "me", EpochMillis(lease), EpochMillis(now))
        .unwrap()
    {
        Acquire::Acquired(lock) => lock,
        busy => panic!("{busy:?}"),
    }
}

#[test]
fn acquire_needs_a_free_or_ended_lease_and_bumps_the_fence() {
    let mut t = LockTable::default();
    let first = held(&mut t, 100, 0);
    assert_eq!(first.fence, Fence(1));
    let busy = t.acquire(&key(), "you", EpochMillis(200), EpochMillis(100));
    assert_eq!(
        busy.unwrap(),
        Acquire::Busy(BusyLock {
            fence: Fence(1),
            lease_until: EpochMillis(100),
            pending: 0
        })
    );
    assert_eq!(held(&mut t, 300, 101).fence, Fence(2), "the lease ended");
    let lock = HeldLock {
        fence: Fence(2),
        ..first
    };
    t.release(&lock, EpochMillis(150)).unwrap();
    assert_eq!(held(&mut t, 400, 151).fence, Fence(3), "released");
}

#[test]
fn wishes_need_the_holders_fence_and_a_live_lease() {
    let mut t = LockTable::default();
    assert_eq!(
        t.add_wish(&key(), Fence(1), EpochMillis(0)),
        Wish::LockChanged
    );
    let lock = held(&mut t, 100, 0);
    let now = EpochMillis(50);
    // The first wisher of a lease claims its check; the next ones do not, unless the claim
    // is given back (the check could not be queued).
    assert_eq!(
        t.add_wish(&key(), Fence(1), now),
        Wish::Recorded { check_needed: true }
    );
    let not_needed = Wish::Recorded {
        check_needed: false,
    };
    assert_eq!(t.add_wish(&key(), Fence(1), now), not_needed);
    t.unclaim_check(&key(), Fence(2), EpochMillis(100));
    assert_eq!(
        t.add_wish(&key(), Fence(1), now),
        not_needed,
        "given back under another fence: not this lease's claim"
    );
    t.unclaim_check(&key(), Fence(1), EpochMillis(100));
    assert_eq!(
        t.add_wish(&key(), Fence(1), now),
        Wish::Recorded { check_needed: true }
    );
    assert_eq!(t.add_wish(&key(), Fence(2), now), Wish::LockChanged);
    assert_eq!(
        t.add_wish(&key(), Fence(1), EpochMillis(101)),
        Wish::LockChanged
    );
    // Reading the wishes leaves them: only the commit that serves them removes them.
    assert_eq!(t.pending_wishes(&lock).unwrap(), 4);
    assert_eq!(t.pending_wishes(&lock).unwrap(), 4);
    t.remove_wishes(&key(), 4);
    assert_eq!(t.pending_wishes(&lock).unwrap(), 0);
    t.add_wish(&key(), Fence(1), now);
    // Releasing keeps wishes for the pending check; a released lock takes no new ones.
    t.release(&lock, now).unwrap();
    assert_eq!(t.peek(&key()).unwrap().unwrap().pending, 1);
    assert_eq!(t.add_wish(&key(), Fence(1), now), Wish::LockChanged);
    // The next holder finds the wish it is to serve, still recorded.
    let next = held(&mut t, 200, 60);
    assert_eq!(next.wishes, 1);
    assert_eq!(t.peek(&key()).unwrap().unwrap().pending, 1);
}

#[test]
fn a_taken_over_holder_is_fenced() {
    let mut t = LockTable::default();
    let old = held(&mut t, 100, 0);
    held(&mut t, 300, 101);
    let fenced = StoreError::Fenced {
        held: 1,
        current: Some(2),
    };
    assert_eq!(t.pending_wishes(&old), Err(fenced.clone()));
    assert_eq!(t.release(&old, EpochMillis(102)), Err(fenced));
    assert_eq!(
        t.peek(&key()).unwrap().unwrap().lease_until,
        EpochMillis(300)
    );
}

#[test]
fn the_queued_mark_coalesces_and_throttles_in_order() {
    let mut t = LockTable::default();
    let min = Some(Duration::from_millis(1_000));
    let mark = |t: &mut LockTable, id: &str, now: i64| {
        t.mark_queued(&key(), id, EpochMillis(now), EpochMillis(now + 500), min)
            .unwrap()
    };
    assert_eq!(mark(&mut t, "e1", 0), Mark::Marked);
    // A mark-only item has no lock state to read, as in DynamoDB.
    assert!(matches!(t.peek(&key()), Err(StoreError::Corrupt(_))));
    assert_eq!(
        mark(&mut t, "e2", 100),
        Mark::Throttled {
            retry_at: EpochMillis(1_000)
        },
        "the interval is reported first"
    );
    let no_interval = t.mark_queued(&key(), "e3", EpochMillis(100), EpochMillis(600), None);
    assert_eq!(
        no_interval.unwrap(),
        Mark::Queued {
            event_id: "e1".into(),
            confirmed: false
        },
        "its job is not known to be sent yet"
    );
    t.confirm_mark(&key(), "e3", EpochMillis(700));
    t.confirm_mark(&key(), "e1", EpochMillis(700));
    let item = t.get(&key()).unwrap();
    assert_eq!(
        (item.queued_until, item.queued_confirmed),
        (Some(700), Some(true))
    );
    let after = t.mark_queued(&key(), "e4", EpochMillis(650), EpochMillis(900), None);
    assert_eq!(
        after.unwrap(),
        Mark::Queued {
            event_id: "e1".into(),
            confirmed: true
        }
    );
    // Only its own mark is cleared; the on-demand time is answered either way.
    assert_eq!(t.clear_mark(&key(), "e3"), Some(EpochMillis(0)));
    assert_eq!(t.get(&key()).unwrap().queued_event.as_deref(), Some("e1"));
    assert_eq!(t.clear_mark(&key(), "e1"), Some(EpochMillis(0)));
    assert_eq!(t.get(&key()).unwrap().queued_event, None);
    // A running sync is reported as such; acquiring cleared nothing it needed.
    let lock = held(&mut t, 5_000, 200);
    t.add_wish(&key(), lock.fence, EpochMillis(200));
    assert_eq!(
        mark(&mut t, "e4", 1_200),
        Mark::Running(BusyLock {
            fence: Fence(1),
            lease_until: EpochMillis(5_000),
            pending: 1
        })
    );
    assert_eq!(mark(&mut t, "e5", 5_001), Mark::Marked);
    // The mark expires on its own.
    assert_eq!(mark(&mut t, "e6", 6_002), Mark::Marked);
}

#[test]
fn on_demand_times_only_move_forward() {
    let mut t = LockTable::default();
    t.note_on_demand(&key(), EpochMillis(50));
    t.note_on_demand(&key(), EpochMillis(20));
    assert_eq!(t.get(&key()).unwrap().last_on_demand, Some(50));
    assert_eq!(t.clear_mark(&key(), "none"), Some(EpochMillis(50)));
}
