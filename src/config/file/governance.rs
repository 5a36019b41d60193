//! Serde types for `[governance]`: grant metadata rules, signed approvals and misuse detection.

use std::collections::BTreeMap;

use serde::Deserialize;

/// `[governance]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Governance {
    /// Every grant must be a table with a justification, approvers and a review date.
    #[serde(default)]
    pub(crate) require_grant_metadata: bool,
    /// Changes that widen access need signed approvals (`approvals_dir`).
    #[serde(default)]
    pub(crate) enforce_approvals: bool,
    /// Where approvals and the last approved configuration are kept.
    pub(crate) approvals_dir: Option<String>,
    /// Each governance body's Ed25519 public keys (hex).
    #[serde(default)]
    pub(crate) bodies: BTreeMap<String, Vec<String>>,
    /// Automatic suspension after repeated denials.
    pub(crate) misuse: Option<Misuse>,
}

/// `[governance.misuse]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Misuse {
    /// Denials within `window` that suspend the partner.
    pub(crate) threshold: u32,
    /// The window, e.g. `"60s"`.
    pub(crate) window: String,
    /// How long the suspension lasts, e.g. `"15m"`.
    pub(crate) suspend_for: String,
    /// The error codes that count (default `permission_denied`, `forbidden_route`).
    pub(crate) codes: Option<Vec<String>>,
}
