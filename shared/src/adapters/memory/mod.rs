//! In-memory implementations of every port, for the core's tests: they honour the same
//! conditions as DynamoDB (a conditional write that fails there fails here too), so a test on
//! them says something about production.
//!
//! - [`MemoryStore`]: one state behind every storage port (locks, mirror, events, sessions,
//!   settings), like `DynamoStore`; each call is one atomic step.
//! - [`MemoryQueue`]: jobs wait with their delay until a test receives them.
//! - [`FakeZuora`]: accounts, subscriptions, a catalog; call counts, failures and delays.
//! - [`RecordingNotifier`]: keeps every summary.
//! - [`ManualClock`], [`TokioClock`]: time the test controls.
//! - [`FaultPlan`]: the simulation's faults, asked before every call of the store, the queue
//!   and Zuora.

mod clock;
mod events;
mod faults;
mod locks;
mod mirror;
mod notify;
mod push;
mod queue;
mod salesforce;
mod sessions;
mod settings;
mod store;
mod zuora;

pub use clock::{ManualClock, TokioClock};
pub use faults::{Fault, FaultPlan, SalesforceFault, ZuoraFault};
pub use locks::LockItem;
pub use mirror::MirrorWrite;
pub use notify::{RecordingNotifier, SentSummary};
pub use queue::{Delivery, MemoryQueue, QueuedJob};
pub use salesforce::FakeSalesforce;
pub use store::MemoryStore;
pub use zuora::{
    ACCOUNT_SNAPSHOT, ACCOUNTS_BY_ID, CATALOG, CHANGES_PAGE, EXPORT_SNAPSHOTS, EXPORT_STATE,
    FakeZuora, QUERY, SUBMIT_EXPORT, SUBSCRIPTION,
};
