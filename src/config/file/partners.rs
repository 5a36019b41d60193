//! Serde types for `[[partners]]`: identity, tier, lifecycle, grants (plain names or tables with
//! their governance metadata) and keys.

use serde::Deserialize;

/// `[[partners]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Partner {
    pub(crate) id: String,
    pub(crate) tier: i64,
    pub(crate) stage: String,
    /// RFC 3339; required in `deprecation`.
    pub(crate) sunset: Option<String>,
    /// RFC 3339; the date sent in `Deprecation` (required with `sunset`, before it).
    pub(crate) deprecated_since: Option<String>,
    /// Where a deprecated partner migrates to (`Link: <url>; rel="deprecation"`).
    pub(crate) migration_url: Option<String>,
    /// RFC 3339 or a date; required in `maintenance`.
    pub(crate) compliance_due: Option<DateField>,
    /// Why the partner is suspended; required with `stage = "suspended"`.
    pub(crate) suspended_reason: Option<String>,
    /// When a suspension ends by itself.
    pub(crate) suspended_until: Option<DateField>,
    /// When the partner's grants are next reviewed.
    pub(crate) review_due: Option<DateField>,
    /// `low`, `medium` or `high`.
    pub(crate) risk: Option<String>,
    #[serde(default)]
    pub(crate) permissions: Vec<Grant>,
    #[serde(default)]
    pub(crate) keys: Vec<Key>,
    /// SHA-256 (hex) of the DER of client certificates bound to this partner's keys.
    #[serde(default)]
    pub(crate) client_cert_sha256: Vec<String>,
    /// The partner's keys are accepted only over a connection with a bound certificate.
    #[serde(default)]
    pub(crate) require_mtls: bool,
    /// Issuers whose tokens may name this partner.
    #[serde(default)]
    pub(crate) jwt_issuers: Vec<String>,
    /// Overrides the tier's rate.
    pub(crate) rate_per_second: Option<f64>,
    /// Overrides the tier's burst.
    pub(crate) burst: Option<u32>,
}

/// A permission grant: its name, or a table with the grant's governance metadata.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum Grant {
    /// `"reports:read"`.
    Name(String),
    /// `{ name = "...", justification = "...", approved_by = [...], ticket = "...", review_due = ... }`.
    Table(GrantTable),
}

/// A grant with its metadata.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GrantTable {
    pub(crate) name: String,
    pub(crate) justification: Option<String>,
    #[serde(default)]
    pub(crate) approved_by: Vec<String>,
    pub(crate) ticket: Option<String>,
    pub(crate) review_due: Option<DateField>,
}

/// A date: a TOML date or date-time (`2027-05-01`), or a string (`"2027-05-01T00:00:00Z"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum DateField {
    /// A TOML date or date-time literal.
    Toml(toml::value::Datetime),
    /// A string.
    Text(String),
}

/// One API key of a partner, stored only as its SHA-256.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Key {
    pub(crate) id: String,
    pub(crate) sha256: String,
    /// RFC 3339; the key is refused from this instant on.
    pub(crate) expires: Option<String>,
    /// A revoked key is refused but kept in the file for the record.
    #[serde(default)]
    pub(crate) revoked: bool,
}

// === impl Grant ===

impl Grant {
    /// The permission granted.
    pub(crate) fn name(&self) -> &str {
        match self {
            Self::Name(n) => n,
            Self::Table(t) => &t.name,
        }
    }
}

// === impl DateField ===

impl DateField {
    /// The date as written (a TOML date prints as `2027-05-01`).
    pub(crate) fn text(&self) -> String {
        match self {
            Self::Toml(d) => d.to_string(),
            Self::Text(s) => s.clone(),
        }
    }
}
