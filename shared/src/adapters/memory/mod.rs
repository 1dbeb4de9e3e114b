//! In-memory implementations of every port, for the core's tests: they honour the same
//! conditions as DynamoDB (a conditional write that fails there fails here too).

mod clock;

pub use clock::{ManualClock, TokioClock};
