//! Pure data, no I/O: what the product syncs, stores, queues and answers. Every other layer
//! speaks these types; this layer imports nothing of the crate but itself.

mod billing;
mod catalog;
mod event;
mod ids;
mod job;
mod lock;
mod mirror;
mod notify;
mod outbound;
mod salesforce;
mod search;
mod secret;
mod session;
mod settings;
mod stats;
mod time;
mod zuora;

pub use billing::*;
pub use catalog::*;
pub use event::*;
pub use ids::*;
pub use job::*;
pub use lock::*;
pub use mirror::*;
pub use notify::*;
pub use outbound::*;
pub use salesforce::*;
pub use search::*;
pub use secret::*;
pub use session::*;
pub use settings::*;
pub use stats::*;
pub use time::*;
pub use zuora::*;
