//! Serde types for `[governance]`: grant metadata rules, signed approvals and misuse detection.

use std::collections::BTreeMap;

use serde::Deserialize;

/// `[governance]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Governance {
    /// Every grant must be a table with a justification, approvers and a review date (default:
    /// true when `[governance.bodies]` lists keys).
    pub(crate) require_grant_metadata: Option<bool>,
    /// Changes that widen access need signed approvals (`approvals_dir`) (default: true when
    /// `[governance.bodies]` lists keys).
    pub(crate) enforce_approvals: Option<bool>,
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

// === impl Governance ===

impl Governance {
    /// Whether the bodies' keys are configured: then governance is on unless the file says
    /// otherwise.
    pub(crate) fn has_bodies(&self) -> bool {
        self.bodies.values().any(|keys| !keys.is_empty())
    }

    /// `enforce_approvals`, its default applied.
    pub(crate) fn enforces_approvals(&self) -> bool {
        self.enforce_approvals.unwrap_or_else(|| self.has_bodies())
    }

    /// `require_grant_metadata`, its default applied.
    pub(crate) fn requires_grant_metadata(&self) -> bool {
        self.require_grant_metadata
            .unwrap_or_else(|| self.has_bodies())
    }
}
