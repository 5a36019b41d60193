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
