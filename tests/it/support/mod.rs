//! Test harness: the real gateway on 127.0.0.1:0 in front of real upstreams (`upstream`),
//! in-process (`gateway`) or as the real binary (`served`), and the clients that talk to it
//! (`http`).
#![allow(dead_code, unreachable_pub, missing_docs)]

mod data;
mod fs;
mod gateway;
mod http;
mod pki;
mod redis;
mod served;
mod upstream;

pub use data::*;
pub use fs::*;
pub use gateway::*;
pub use http::*;
pub use pki::*;
pub use redis::*;
pub use served::*;
pub use upstream::*;

pub const ACME: &str = "kwp_test_acme_0123456789abcdef0123";
pub const ACME_EXPIRED: &str = "kwp_test_acme_expired_0123456789ab";
pub const ACME_REVOKED: &str = "kwp_test_acme_revoked_0123456789ab";
pub const GLOBEX: &str = "kwp_test_globex_0123456789abcdef01";
pub const INITECH: &str = "kwp_test_initech_0123456789abcdef0";
pub const UMBRELLA: &str = "kwp_test_umbrella_0123456789abcdef";
pub const OLDCO: &str = "kwp_test_oldco_0123456789abcdef012";

/// The shared test configuration; `UPSTREAM` and `DOWN` are replaced, `"@key"` becomes the
/// key's SHA-256.
pub const FIXTURE: &str = include_str!("../../fixtures/gateway.toml");
