use super::*;
use crate::model::SessionTrigger;

fn entity() -> EntityId {
    EntityId::parse("e").unwrap()
}

fn session(range: (u64, u64), at: i64) -> Session {
    Session::new(SessionTrigger::Threshold, EpochMillis(at), range, 1)
}

#[test]
fn a_cut_is_a_compare_and_set_on_last_cut() {
    let mut t = RealtimeTable::default();
    let e = entity();
    assert!(
        !t.start_session(&e, 5, &session((5, 6), 0), None),
        "never cut: from 0 only"
    );
    for i in 0..3 {
        let state = record(&mut t, &e, &format!("d{i}"), "A1", EpochMillis(10));
        assert_eq!(state.unwrap().seq, i + 1);
    }
    assert_eq!(record(&mut t, &e, "d0", "A1", EpochMillis(11)), None);
    assert!(t.start_session(&e, 0, &session((0, 2), 20), None));
    assert!(
        !t.start_session(&e, 0, &session((0, 2), 21), None),
        "a second cutter loses"
    );
    let state = t.counters[&e].state();
    // The duplicate took number 4 too, which counts no account.
    assert_eq!(
        (state.seq, state.last_cut, state.since),
        (4, 2, Some(EpochMillis(10)))
    );
    assert_eq!(t.changes[&(e.clone(), 4)], None);
    assert_eq!(state.last_session_at, Some(EpochMillis(20)));
    assert_eq!(state.unqueued.len(), 1, "started, not yet queued");
}

/// H2: a cutter seals the numbers it gave up waiting for; a change that lands later cannot
/// take a sealed number (its writer takes another, so the change joins a later session).
#[test]
fn a_skipped_number_cannot_be_written_later() {
    let mut t = RealtimeTable::default();
    let e = entity();
    let slow = t.take_number(&e, EpochMillis(0));
    let prompt = t.take_number(&e, EpochMillis(0));
    assert!(t.put_change(&e, prompt.seq, "A2"));
    assert_eq!(
        t.skip_missing(&e, &[slow.seq, prompt.seq]),
        vec![prompt.seq]
    );
    assert!(!t.put_change(&e, slow.seq, "A1"), "sealed");
    let again = t.take_number(&e, EpochMillis(0));
    assert!(t.put_change(&e, again.seq, "A1"));
    assert_eq!(again.seq, 3);
}

#[test]
fn a_due_cut_loses_to_a_newer_session() {
    let mut t = RealtimeTable::default();
    let e = entity();
    assert!(t.start_session(&e, 0, &session((0, 0), 100), Some(EpochMillis(0))));
    // A sweep that read the state before that session: due at 0, but one started at 100.
    assert!(!t.start_session(&e, 0, &session((0, 0), 101), Some(EpochMillis(0))));
    assert!(t.start_session(&e, 0, &session((0, 0), 102), Some(EpochMillis(100))));
}

#[test]
fn pages_and_jobs_count_once_and_sessions_complete_once() {
    let mut t = RealtimeTable::default();
    let e = entity();
    let mut full = Session::new(SessionTrigger::Full, EpochMillis(0), (0, 0), 0);
    full.enumerating = true;
    let page = |accounts: &[&str], next: Option<&str>| PageRecord {
        accounts: accounts.iter().map(|a| a.to_string()).collect(),
        next: next.map(str::to_string),
    };
    let first = page(&["A1", "A2"], Some("c1"));
    assert!(
        t.add_page(&e, &full.id, "first", &first).is_err(),
        "no such session"
    );
    t.create_session(&e, &full).unwrap();
    assert!(t.create_session(&e, &full).is_err(), "created once");
    assert_eq!(t.add_page(&e, &full.id, "first", &first), Ok(first.clone()));
    // Retried after Zuora's list changed: the page as first recorded, counted once.
    let moved = page(&["A1"], Some("c9"));
    assert_eq!(t.add_page(&e, &full.id, "first", &moved), Ok(first));
    let last = page(&["A3"], None);
    assert_eq!(t.add_page(&e, &full.id, "c1", &last), Ok(last.clone()));
    let fail = Some("A2: gone");
    let s = t
        .finish_job(&e, &full.id, "A1", JobOutcome::Succeeded, 4, None)
        .unwrap();
    assert_eq!(
        (s.total, s.succeeded, s.written, s.enumerating),
        (3, 1, 4, false)
    );
    let again = t
        .finish_job(&e, &full.id, "A1", JobOutcome::Failed, 9, fail)
        .unwrap();
    assert_eq!((again.succeeded, again.failed, again.written), (1, 0, 4));
    t.finish_job(&e, &full.id, "A2", JobOutcome::Failed, 0, fail)
        .unwrap();
    let s = t
        .finish_job(&e, &full.id, "A3", JobOutcome::Skipped, 0, None)
        .unwrap();
    assert!(s.is_finished());
    assert_eq!(s.failures, ["A2: gone"]);
    assert!(
        t.finish_job(&e, "nope", "A1", JobOutcome::Succeeded, 0, None)
            .is_err()
    );
    assert!(t.complete_session(&e, &full.id, true, "all_including_zero", EpochMillis(9)));
    assert!(!t.complete_session(&e, &full.id, true, "all_including_zero", EpochMillis(9)));
    assert!(!t.complete_session(&e, "nope", true, "none", EpochMillis(9)));
    let done = &t.sessions[&(e.clone(), full.id.clone())];
    assert_eq!(
        (done.status, done.notify),
        (SessionStatus::Done, Some(true))
    );
    assert_eq!(
        t.counters[&e].last_session_id.as_deref(),
        Some(full.id.as_str())
    );
}

/// The three steps of `record_change`, run at once.
fn record(
    t: &mut RealtimeTable,
    e: &EntityId,
    dedupe_id: &str,
    account: &str,
    now: EpochMillis,
) -> Option<RealtimeState> {
    let state = t.take_number(e, now);
    assert!(t.put_change(e, state.seq, account));
    if !t.claim_callout(e, dedupe_id) {
        t.void_change(e, state.seq);
        return None;
    }
    Some(state)
}
