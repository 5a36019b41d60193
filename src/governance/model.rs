//! The governance view of a configuration: who holds what, in which stage, through which keys,
//! on which routes, and what data may leave — in a canonical form (sorted maps, normalised
//! dates), so that its SHA-256 names the configuration's meaning, not its formatting.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A configuration's governance-relevant content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Model {
    /// Partners by id.
    pub partners: BTreeMap<String, PartnerModel>,
    /// Routes by name.
    pub routes: BTreeMap<String, RouteModel>,
    /// Data classes by name.
    pub data_classes: BTreeMap<String, ClassModel>,
    /// The permission registry: name → kind.
    pub permissions: BTreeMap<String, String>,
    /// `[governance]` itself.
    pub governance: GovernanceModel,
    /// Forbidden path prefixes (lower case).
    pub forbidden: BTreeSet<String>,
    /// Forbidden path segments (lower case).
    pub forbidden_segments: BTreeSet<String>,
    /// Token issuers by `iss`.
    pub issuers: BTreeMap<String, IssuerModel>,
    /// Upstreams by name: where a route's traffic (and the partner's identity) goes.
    pub upstreams: BTreeMap<String, String>,
    /// Settings that decide how much partners may do or how the rules hold (rates, the admin
    /// token, the identity key, upstream TLS, misuse detection), by dotted name.
    pub settings: BTreeMap<String, Setting>,
}

/// One setting's value, and which way of changing it gives more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setting {
    /// The value as text (numbers normalised; `None`: not set).
    pub value: Option<String>,
    /// Which change widens access.
    pub wider: Wider,
}

/// Which change of a setting widens access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Wider {
    /// A higher number (a rate, a threshold), or unsetting it (unlimited, off).
    Higher,
    /// A lower number (a window, a suspension's length), or unsetting it.
    Lower,
    /// Any change (a key, a token, a certificate).
    Any,
}

// === impl Setting ===

impl Setting {
    /// Whether going from `old` to `self` gives more.
    pub fn widens_from(&self, old: &Self) -> bool {
        let num = |s: &Self| s.value.as_deref().and_then(|v| v.parse::<f64>().ok());
        match (self.wider, num(old), num(self)) {
            (Wider::Higher, Some(a), Some(b)) => b > a,
            (Wider::Lower, Some(a), Some(b)) => b < a,
            // Unset is unlimited (a rate) or off (misuse detection): setting it narrows.
            (Wider::Higher | Wider::Lower, None, Some(_)) => false,
            _ => old.value != self.value,
        }
    }
}

/// One `[[auth.jwt]]` issuer: everything that decides which tokens are accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerModel {
    /// Accepted audiences.
    pub audiences: BTreeSet<String>,
    /// Pinned algorithms.
    pub algorithms: BTreeSet<String>,
    /// The claim naming the partner.
    pub partner_claim: String,
    /// The clock skew allowed, as written (a longer one accepts expired tokens).
    pub leeway: String,
    /// The JWKS file, as written.
    pub jwks_file: Option<String>,
    /// SHA-256 of the JWKS file's content, when the configuration was loaded from disk.
    pub jwks_sha256: Option<String>,
    /// SHA-256 of the HS256 secret (never the secret).
    pub secret_sha256: Option<String>,
}

/// One partner.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerModel {
    /// 1, 2 or 3.
    pub tier: i64,
    /// The lifecycle stage.
    pub stage: String,
    /// Lifecycle dates (RFC 3339), when set.
    pub sunset: Option<String>,
    /// When compliance checks are due (maintenance).
    pub compliance_due: Option<String>,
    /// When a configured suspension ends.
    pub suspended_until: Option<String>,
    /// `low`, `medium`, `high`.
    pub risk: Option<String>,
    /// The permissions held.
    pub grants: BTreeSet<String>,
    /// Keys by id.
    pub keys: BTreeMap<String, KeyModel>,
    /// Its keys count only with a bound client certificate.
    pub require_mtls: bool,
    /// The bound certificates (SHA-256, lower-case hex).
    pub client_certs: BTreeSet<String>,
    /// Token issuers that may name the partner.
    pub jwt_issuers: BTreeSet<String>,
}

/// One key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyModel {
    /// Its SHA-256 (lower-case hex).
    pub sha256: String,
    /// When it expires.
    pub expires: Option<String>,
    /// Whether it is revoked.
    pub revoked: bool,
}

/// One route.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteModel {
    /// Method and path template.
    pub method: String,
    /// The path template.
    pub path: String,
    /// The permission it requires.
    pub permission: String,
    /// The upstream it reaches.
    pub upstream: String,
    /// Its response contract.
    pub response: Option<ContractModel>,
    /// Its request schema file, as written.
    pub request_schema: Option<String>,
    /// SHA-256 of the schema's content, when the configuration was loaded from disk.
    pub request_schema_sha256: Option<String>,
}

/// A response contract.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractModel {
    /// Allowed media types.
    pub content_types: BTreeSet<String>,
    /// The size limit.
    pub max_bytes: Option<u64>,
    /// The allow-list, if any.
    pub allow_fields: Option<BTreeSet<String>>,
    /// `strip` or `reject`.
    pub on_violation: String,
}

/// A data class.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassModel {
    /// Its field patterns.
    pub fields: BTreeSet<String>,
    /// The permissions that may receive it.
    pub allowed_for: BTreeSet<String>,
}

/// `[governance]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GovernanceModel {
    /// Approvals enforced.
    pub enforce_approvals: bool,
    /// Grant metadata required.
    pub require_grant_metadata: bool,
    /// Each body's public keys (hex).
    pub bodies: BTreeMap<String, BTreeSet<String>>,
    /// Where approvals are kept, as written.
    pub approvals_dir: Option<String>,
}

// === impl Model ===

impl Model {
    /// The canonical form: JSON with every map sorted.
    pub fn canonical(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// SHA-256 of the canonical form.
    pub fn sha256(&self) -> [u8; 32] {
        Sha256::digest(self.canonical()).into()
    }
}

/// The rank of a stage on the way out (a move to a lower rank goes backwards). A suspension
/// ranks above deprecation: it is the mitigation, and leaving it restores access.
pub fn stage_rank(stage: &str) -> u8 {
    match stage {
        "active" => 0,
        "maintenance" => 1,
        "deprecation" => 2,
        "suspended" => 3,
        _ => 4,
    }
}
