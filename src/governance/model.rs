//! The governance view of a configuration: who holds what, in which stage, through which keys,
//! on which routes, what data may leave, and every safeguard of the partners' data and of the
//! trail — in a canonical form (sorted maps, typed stages, kinds, risks and dates), so that its
//! SHA-256 names the configuration's meaning, not its formatting. `config::model` builds it and
//! lists every other field of the file as operational.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use crate::model::PermissionKind;

use super::Risk;

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
    pub permissions: BTreeMap<String, PermissionKind>,
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
    /// Settings that decide how much partners may do or how the rules hold (rates, limits,
    /// the audit trail, TLS, the admin listener, the identity key, upstream TLS, misuse
    /// detection, per-route and per-upstream safeguards), by dotted name.
    pub settings: BTreeMap<String, Setting>,
    /// Free text and references that justify the rest (justifications, tickets, approvers,
    /// migration links), by dotted name: shown when they change, never widening.
    #[serde(default)]
    pub notes: BTreeMap<String, String>,
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Wider {
    /// A higher number (a rate, a threshold), or unsetting it (unlimited, off).
    Higher,
    /// A lower number (a window, a suspension's length), or unsetting it.
    Lower,
    /// Any change (a key, a token, a certificate).
    Any,
    /// Any change but setting it where it was unset (a witness, a client CA, a token).
    Unset,
    /// One of these values, from the strictest to the most permissive: a move to the right
    /// widens (`strict` to `buffered`, `required` to `none`, `true` to `false`).
    Ranked(Vec<String>),
}

// === impl Setting ===

impl Setting {
    /// Whether going from `old` to `self` gives more.
    pub fn widens_from(&self, old: &Self) -> bool {
        let num = |s: &Self| s.value.as_deref().and_then(|v| v.parse::<f64>().ok());
        match &self.wider {
            Wider::Ranked(order) => {
                let rank = |s: &Self| {
                    s.value
                        .as_ref()
                        .and_then(|v| order.iter().position(|o| o == v))
                };
                match (rank(old), rank(self)) {
                    (Some(a), Some(b)) => b > a,
                    // From a view that did not know it (an older approved copy), only the
                    // strictest value is no wider.
                    (None, Some(0)) => false,
                    _ => old.value != self.value,
                }
            }
            Wider::Unset => old.value.is_some() && old.value != self.value,
            wider => match (wider, num(old), num(self)) {
                (Wider::Higher, Some(a), Some(b)) => b > a,
                (Wider::Lower, Some(a), Some(b)) => b < a,
                // Unset is unlimited (a rate) or off (misuse detection): setting it narrows.
                (Wider::Higher | Wider::Lower, None, Some(_)) => false,
                _ => old.value != self.value,
            },
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
    pub stage: StageName,
    /// When a deprecated partner's access ends.
    pub sunset: Option<Date>,
    /// When compliance checks are due (maintenance).
    pub compliance_due: Option<Date>,
    /// When a configured suspension ends.
    pub suspended_until: Option<Date>,
    /// When the partner's grants are next reviewed (a later date postpones oversight).
    #[serde(default)]
    pub review_due: Option<Date>,
    /// Since when the partner is deprecated (sent in `Deprecation`).
    #[serde(default)]
    pub deprecated_since: Option<Date>,
    /// Its assessed risk.
    pub risk: Option<Risk>,
    /// The permissions held.
    pub grants: super::sorted::SortedSet,
    /// Grants reviewed on their own date (a later one postpones oversight).
    #[serde(default)]
    pub grant_reviews: BTreeMap<String, Date>,
    /// Keys by id (one sorted vector: most partners have one or two).
    pub keys: super::sorted::SortedMap<KeyModel>,
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
    pub expires: Option<Date>,
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
    /// Since when the route is deprecated.
    #[serde(default)]
    pub deprecated_since: Option<Date>,
    /// When it goes: before this, taking it from its callers needs approval.
    #[serde(default)]
    pub sunset: Option<Date>,
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

/// A lifecycle stage, by name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageName {
    /// Full access.
    #[default]
    Active,
    /// As active until compliance is due.
    Maintenance,
    /// Read routes only.
    Deprecation,
    /// Nothing, for now.
    Suspended,
    /// Nothing.
    EndOfSupport,
}

/// A point in time, compared as one and written as RFC 3339 (UTC, seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date(pub SystemTime);

// === impl StageName ===

impl StageName {
    /// Parses a stage as the configuration writes it.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Active,
            Self::Maintenance,
            Self::Deprecation,
            Self::Suspended,
            Self::EndOfSupport,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    /// The name in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Maintenance => "maintenance",
            Self::Deprecation => "deprecation",
            Self::Suspended => "suspended",
            Self::EndOfSupport => "end_of_support",
        }
    }

    /// The rank on the way out (a move to a lower rank goes backwards). A suspension ranks
    /// above deprecation: it is the mitigation, and leaving it restores access.
    pub fn rank(self) -> u8 {
        match self {
            Self::Active => 0,
            Self::Maintenance => 1,
            Self::Deprecation => 2,
            Self::Suspended => 3,
            Self::EndOfSupport => 4,
        }
    }
}

impl std::fmt::Display for StageName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

// === impl Date ===

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", humantime::format_rfc3339_seconds(self.0))
    }
}

impl Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_rfc3339_weak(&text)
            .map(Date)
            .map_err(serde::de::Error::custom)
    }
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
