//! Who may call: JWT verification (the API's bearer tokens, IdPs' ID tokens) and callout
//! credentials.

mod callout;
mod hooks;
mod jwks;
mod jwt;

pub use callout::CalloutAuth;
pub use hooks::{HookVerifiers, claimed_issuer};
pub use jwks::JwksCache;
pub use jwt::*;
