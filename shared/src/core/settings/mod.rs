//! Entity settings: the per-process cache every service reads through, and the validation of
//! updates.

mod cache;
mod fields;
mod validate;

pub use cache::SettingsCache;
pub use fields::{MAX_LOGIN_HOOKS, valid_account_field};
pub use validate::*;
