//! Entity settings: the per-process cache every service reads through, and the validation of
//! updates.

mod cache;
mod validate;

pub use cache::SettingsCache;
pub use validate::*;
