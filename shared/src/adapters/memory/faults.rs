//! Fault injection for the simulation (docs/ARCHITECTURE.md, "Testing"): each memory adapter
//! asks an optional [`FaultPlan`] before every call whether to answer normally, late, with an
//! error, or never. The plan belongs to the test (a seeded one makes a run replayable); the
//! adapters only carry it out.

use crate::ports::{SalesforceError, ZuoraError};
use std::time::Duration;

/// What becomes of one store or queue call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    Pass,
    /// The request lands this long after it was made (tokio's clock): a slow write.
    Delay(Duration),
    /// The call changes nothing and answers an error (an outage, a throttle).
    Fail,
    /// The caller dies during the call: it never answers. With `applied`, the write happened
    /// first (the answer was lost), as after a timeout on a request DynamoDB did carry out.
    Crash {
        applied: bool,
    },
}

/// What becomes of one Zuora call.
#[derive(Debug, Clone, PartialEq)]
pub enum ZuoraFault {
    Pass,
    /// The answer (read when the call was made) arrives this long after it.
    Delay(Duration),
    Fail(ZuoraError),
    /// The caller dies while waiting.
    Crash,
}

/// What becomes of one Salesforce call.
#[derive(Debug, Clone)]
pub enum SalesforceFault {
    Pass,
    /// The answer arrives this long after the call.
    Delay(Duration),
    /// The call fails whole (an outage, a limit, an expired session that re-auth did not mend).
    Fail(SalesforceError),
    /// Every record of the call is refused with `UNABLE_TO_LOCK_ROW` (a transient error).
    LockRows,
    /// Salesforce carries the call out, but its answer is lost (`NoAnswer`).
    LostAnswer,
    /// The caller dies during the call; with `applied`, Salesforce carried it out first.
    Crash {
        applied: bool,
    },
}

/// Decides the fate of each call. `op` names the port method (e.g. `commit`, `send`,
/// `account_snapshot`), for the plan's trace and its choices.
pub trait FaultPlan: Send + Sync + std::fmt::Debug {
    fn store_call(&self, op: &'static str) -> Fault;
    fn queue_send(&self) -> Fault;
    fn zuora_call(&self, method: &'static str) -> ZuoraFault;
    /// `method` is the port's: `upsert`, `delete` or `find_ids`.
    fn salesforce_call(&self, _method: &'static str) -> SalesforceFault {
        SalesforceFault::Pass
    }
}

/// Never answers: the task that awaits this is a dead invocation, dropped by its runner.
pub(super) async fn die() -> ! {
    std::future::pending::<()>().await;
    unreachable!("a pending future never completes")
}

/// The port method a store call closure belongs to, from its type name.
pub(super) fn op_name<F>() -> &'static str {
    method_of(std::any::type_name::<F>())
}

/// `<…MemoryStore as …MirrorStore>::commit<'_, '_>::{{closure}}::{{closure}}` → `commit`.
fn method_of(type_name: &str) -> &str {
    let head = type_name.split("::{{closure}}").next().unwrap_or(type_name);
    let method = head.rsplit("::").next().unwrap_or(head);
    // async-trait methods carry their lifetimes.
    method.split('<').next().unwrap_or(method)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_names_come_from_the_calling_method() {
        fn named<F>(_: F) -> &'static str {
            op_name::<F>()
        }
        fn record_change() -> &'static str {
            named(|| ())
        }
        assert_eq!(record_change(), "record_change");
        let commit = "<zuora_sync::adapters::memory::store::MemoryStore as \
                      zuora_sync::ports::store::MirrorStore>::commit<'_, '_, '_>::{{closure}}::{{closure}}";
        assert_eq!(method_of(commit), "commit");
    }
}
