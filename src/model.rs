//! The vocabulary every layer shares — tiers, lifecycle stages, permission kinds, rates and
//! certificate fingerprints — at the bottom of the dependency order: it imports nothing of the
//! crate, and `auth`, `routes`, `policy`, `state` and `tls` all build on it.

use std::fmt;
use std::time::{Duration, SystemTime};

/// SHA-256 of a certificate's DER.
pub type CertFingerprint = [u8; 32];

/// The kind of a permission, from the registry; tiers are ceilings over kinds.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum PermissionKind {
    /// Reading published data.
    Read,
    /// Triggering workflows.
    Workflow,
    /// Changing data.
    Write,
    /// Querying intelligence products.
    Intelligence,
}

/// A partner tier, 1 to 3 (the only values it can hold).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tier(u8);

/// A partner's lifecycle stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Full access within its permissions.
    Active,
    /// As active until `compliance_due`; after it, read routes only (as deprecation) until the
    /// date moves.
    Maintenance {
        /// When the partner's compliance checks are due.
        compliance_due: SystemTime,
    },
    /// Read routes only, announced with `Deprecation` and `Sunset`.
    Deprecation {
        /// Sent as the RFC 9745 `Deprecation` date.
        since: SystemTime,
        /// Sent as the RFC 8594 `Sunset` date.
        sunset: SystemTime,
    },
    /// Every request denied.
    EndOfSupport,
    /// Every request denied (`partner_suspended`) until `until`, if set.
    Suspended {
        /// When the suspension ends by itself.
        until: Option<SystemTime>,
    },
}

/// A deprecation announced on a route's answers: RFC 9745 `Deprecation` (since), RFC 8594
/// `Sunset`, and the migration `Link`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deprecation {
    /// Sent as the `Deprecation` date.
    pub since: SystemTime,
    /// Sent as the `Sunset` date.
    pub sunset: SystemTime,
    /// Sent as `Link: <url>; rel="deprecation"`.
    pub link: Option<std::sync::Arc<str>>,
}

/// A partner's rate: sustained requests per second and burst.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Requests per second.
    pub per_second: f64,
    /// Requests allowed at once.
    pub burst: u32,
}

// === impl Rate ===

impl Rate {
    /// The GCRA quota: one request every `1 / per_second`, `burst` at once.
    pub(crate) fn quota(self) -> governor::Quota {
        let period = Duration::from_secs_f64(1.0 / self.per_second.max(1e-6));
        let burst = std::num::NonZeroU32::new(self.burst).unwrap_or(std::num::NonZeroU32::MIN);
        governor::Quota::with_period(period)
            .unwrap_or_else(|| governor::Quota::per_second(std::num::NonZeroU32::MIN))
            .allow_burst(burst)
    }
}

// === impl PermissionKind ===

impl PermissionKind {
    /// Parses a registry `kind`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "read" => Some(Self::Read),
            "workflow" => Some(Self::Workflow),
            "write" => Some(Self::Write),
            "intelligence" => Some(Self::Intelligence),
            _ => None,
        }
    }

    /// The name used in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Workflow => "workflow",
            Self::Write => "write",
            Self::Intelligence => "intelligence",
        }
    }

    /// The lowest tier whose ceiling includes this kind.
    pub fn minimum_tier(self) -> Tier {
        match self {
            Self::Read => Tier(1),
            Self::Workflow | Self::Write => Tier(2),
            Self::Intelligence => Tier(3),
        }
    }
}

impl fmt::Display for PermissionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// === impl Tier ===

impl Tier {
    /// A tier from its number, if it is 1, 2 or 3.
    pub fn new(n: i64) -> Option<Self> {
        match n {
            1..=3 => Some(Self(n as u8)),
            _ => None,
        }
    }

    /// The tier number.
    pub fn get(self) -> u8 {
        self.0
    }

    /// Whether this tier's ceiling includes permissions of `kind` (SPEC policy table).
    pub fn allows(self, kind: PermissionKind) -> bool {
        kind.minimum_tier() <= self
    }

    /// The kinds this tier may hold, for messages.
    pub fn ceiling(self) -> &'static str {
        match self.0 {
            1 => "read",
            2 => "read, workflow, write",
            _ => "read, workflow, write, intelligence",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

// === impl Stage ===

impl Stage {
    /// The name used in the configuration.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Maintenance { .. } => "maintenance",
            Self::Deprecation { .. } => "deprecation",
            Self::EndOfSupport => "end_of_support",
            Self::Suspended { .. } => "suspended",
        }
    }
}

/// Whose doing an answer the gateway makes itself is: only the partner's count as its
/// denials (in `audit report`, the misuse detector and the `DenialSpike` alert).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The partner's request: a denial, or a refusal of what it sent.
    Partner,
    /// The gateway's own: its state backend or its audit trail failed.
    Gateway,
    /// The upstream's: unreachable, too slow, or answering what no partner may receive.
    Upstream,
}

/// Every problem+json `code` a partner can receive, with whose doing it is (the SPEC's error
/// table; `proxy::GatewayError::fault` agrees, by a test over every variant).
pub const CODES: [(&str, Fault); 24] = [
    ("bad_request", Fault::Partner),
    ("headers_too_large", Fault::Partner),
    ("forbidden_route", Fault::Partner),
    ("invalid_credentials", Fault::Partner),
    ("route_not_found", Fault::Partner),
    ("method_not_allowed", Fault::Partner),
    ("partner_revoked", Fault::Partner),
    ("partner_suspended", Fault::Partner),
    ("stage_restricted", Fault::Partner),
    ("tier_insufficient", Fault::Partner),
    ("permission_denied", Fault::Partner),
    ("idempotency_key_required", Fault::Partner),
    ("payload_too_large", Fault::Partner),
    ("request_timeout", Fault::Partner),
    ("request_contract_violation", Fault::Partner),
    ("rate_limited", Fault::Partner),
    ("idempotency_conflict", Fault::Partner),
    ("idempotency_key_reused", Fault::Partner),
    ("state_unavailable", Fault::Gateway),
    ("audit_unavailable", Fault::Gateway),
    ("upstream_unavailable", Fault::Upstream),
    ("upstream_timeout", Fault::Upstream),
    ("bad_upstream_response", Fault::Upstream),
    ("response_contract_violation", Fault::Upstream),
];

/// Whose doing an answer with `code` is (`None`: not a code the gateway answers with).
pub fn fault_of(code: &str) -> Option<Fault> {
    CODES.iter().find(|(c, _)| *c == code).map(|(_, f)| *f)
}

/// The codes of answers that are not the partner's doing (the gateway's or the upstream's).
pub fn not_the_partners() -> impl Iterator<Item = &'static str> {
    CODES
        .iter()
        .filter(|(_, f)| *f != Fault::Partner)
        .map(|(c, _)| *c)
}

/// The hasher of maps whose keys the configuration chose (ids, routes, series) or that are
/// digests already: fast, and seeded per process. Keys a client chooses keep std's SipHash.
pub type FastHash = foldhash::fast::RandomState;
