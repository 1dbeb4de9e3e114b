//! The account lock protocol's values (docs/ARCHITECTURE.md, "The lock protocol"): fences,
//! leases, wishes and the queued mark.

use crate::model::{EntityId, EpochMillis};

/// The fencing number of one lock acquisition; every write of the holder is conditioned on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Fence(pub u64);

/// Which lock: one per account and entity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LockKey {
    pub entity: EntityId,
    pub account_id: String,
}

/// A lock this process holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldLock {
    pub key: LockKey,
    pub fence: Fence,
    pub lease_until: EpochMillis,
    /// Wishes pending when the lock was acquired. The holder's first fetch starts after them,
    /// so its commit serves (removes) exactly these; later ones wait for a follow-up.
    pub wishes: u64,
    /// A previous holder's commit stopped between its transactions (an account too big for
    /// one): this holder's commit, whatever its size, completes the account and clears the
    /// mark (docs/ARCHITECTURE.md, The lock protocol).
    pub torn: bool,
    /// When the reads behind the last commit under this lock began (any holder's): a commit
    /// must start from a later time, so an older snapshot never overwrites a newer one
    /// (docs/ARCHITECTURE.md, The lock protocol: snapshot order). `None` before the first.
    pub synced_from: Option<EpochMillis>,
    /// The acquire cleared a queued mark: requests may have folded into it at any moment
    /// before, trusting a fetch that starts after this acquire.
    pub cleared_mark: bool,
}

/// How far the clocks of two instances may disagree. Snapshot times taken on different
/// instances are compared with this margin; under the lock, the lock itself orders them.
pub const CLOCK_SKEW_MS: i64 = 1_000;

impl HeldLock {
    /// Whether a snapshot whose reads began at `started`, before this lock was won, may be
    /// committed under it. Not when the acquire found wishes or a queued mark (requests made
    /// after `started` may wait on them), a torn commit, or a commit whose reads began at
    /// about the same time or later (its data may be newer than ours).
    pub fn takes_prefetch(&self, started: EpochMillis) -> bool {
        self.wishes == 0
            && !self.torn
            && !self.cleared_mark
            && self
                .synced_from
                .is_none_or(|last| started.0 > last.0 + CLOCK_SKEW_MS)
    }

    /// The snapshot time of reads starting `now` under this lock: after every earlier
    /// commit's, even when this instance's clock is behind the previous holder's.
    pub fn read_start(&self, now: EpochMillis) -> EpochMillis {
        match self.synced_from {
            Some(last) if last.0 >= now.0 => EpochMillis(last.0 + 1),
            _ => now,
        }
    }
}

/// A lock item as a strongly consistent read found it, before a commit that takes the lock
/// and gives it back in its own write (docs/ARCHITECTURE.md, "The lock protocol": one-write
/// commits). That commit is conditioned on the item being as seen: every acquire and every
/// one-write commit moves the fence, and every commit moves `synced_from` forward, so an
/// unchanged item means nothing was written to the account's mirror since it was read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeenLock {
    /// `None`: no item, or one that only ever held a queued mark.
    pub fence: Option<Fence>,
    pub lease_until: Option<EpochMillis>,
    pub pending: u64,
    pub synced_from: Option<EpochMillis>,
    /// The last release, on items written before commits recorded `synced_from`.
    pub released_at: Option<EpochMillis>,
    pub torn: bool,
    pub queued: bool,
}

impl SeenLock {
    /// Whether a snapshot whose reads began at `started` may be committed by one write now:
    /// the lock is free, and nothing it records can be newer than the snapshot (the
    /// conditions of [`HeldLock::takes_prefetch`], on a lock nobody holds).
    pub fn free_for(&self, started: EpochMillis, now: EpochMillis) -> bool {
        let last = self.synced_from.or(self.released_at);
        self.lease_until.is_none_or(|lease| lease.0 < now.0)
            && self.pending == 0
            && !self.torn
            && !self.queued
            && last.is_none_or(|last| started.0 > last.0 + CLOCK_SKEW_MS)
    }
}

/// An account whose multi-transaction commit did not finish, as the sweep finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornCommit {
    pub account_id: String,
    /// The lease of the lock now: a live holder may still be finishing (or repairing) it.
    pub lease_until: EpochMillis,
}

/// The state of someone else's lock, as returned by the failed conditional write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusyLock {
    pub fence: Fence,
    pub lease_until: EpochMillis,
    pub pending: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acquire {
    Acquired(HeldLock),
    Busy(BusyLock),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wish {
    /// Recorded. `check_needed` for the one wisher per lease that claimed the check (in the
    /// same write): it queues the check, or gives the claim back (`LockStore::unclaim_check`)
    /// when it cannot, so the next wisher queues it.
    Recorded { check_needed: bool },
    /// The lock changed hands or was released meanwhile: try to acquire again.
    LockChanged,
}

/// A lock read without taking it (used by the coalesced-wish check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockState {
    pub fence: Fence,
    pub lease_until: EpochMillis,
    pub pending: u64,
    /// When the reads behind the last commit began (see [`HeldLock::synced_from`]).
    pub synced_from: Option<EpochMillis>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    /// Written, and the lock released in the same transaction.
    Released,
    /// Written; the lock is still held because coalesced wishes are pending.
    KeptForWishes,
}

/// What marking an account as "sync queued" found (one sync at a time, later
/// requests coalesce).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mark {
    /// Marked: the caller queues the job.
    Marked,
    /// A job for the account is marked queued and has not started. Once `confirmed` (its
    /// job was sent) a request folds into it; before that (the marker may have died between
    /// its mark and its send) a request queues a job of its own.
    Queued { event_id: String, confirmed: bool },
    /// A sync holds the lock: the request folds into its follow-up.
    Running(BusyLock),
    /// An on-demand sync ran too recently; another is allowed at `retry_at`.
    Throttled { retry_at: EpochMillis },
}
