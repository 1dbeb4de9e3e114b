//! The traits the core runs on, and their errors. Adapters implement them; the core sees
//! nothing else of the outside world.

mod cause;
mod clock;
mod notify;
mod queue;
mod salesforce;
mod store;
mod zuora;

pub use cause::Cause;
pub use clock::*;
pub use notify::*;
pub use queue::*;
pub use salesforce::*;
pub use store::*;
pub use zuora::*;
