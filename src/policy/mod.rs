//! The decision: a pure function of (request facts, config snapshot types) to `Permit` or `Deny`.
//!
//! No I/O, no async, no hyper types: `policy` sees only `auth::Principal` and `routes::Route`.

mod decision;

pub use decision::{Deny, Permit};

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use crate::auth::Principal;
use crate::routes::{Idempotency, Route};

/// The kind of a permission, from the registry; tiers are ceilings over kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    /// As active.
    Maintenance,
    /// Read routes only, announced with `Deprecation` and `Sunset`.
    Deprecation {
        /// Sent as the RFC 9745 `Deprecation` date.
        since: SystemTime,
        /// Sent as the RFC 8594 `Sunset` date.
        sunset: SystemTime,
    },
    /// Every request denied.
    EndOfSupport,
}

/// What the request itself says that the decision needs (beyond who and which route).
#[derive(Debug, Clone, Copy, Default)]
pub struct Facts {
    /// Whether an `Idempotency-Key` header was sent.
    pub has_idempotency_key: bool,
}

/// Decides one request: stage, then tier ceiling, then the route's permission, then the
/// route's request preconditions. `Permit` is the only way to reach an upstream.
pub fn decide(principal: &Principal, route: &Arc<Route>, facts: &Facts) -> Result<Permit, Deny> {
    let partner = &principal.partner;
    match partner.stage {
        Stage::EndOfSupport => return Err(Deny::PartnerRevoked),
        Stage::Deprecation { .. } if route.kind != PermissionKind::Read => {
            return Err(Deny::StageRestricted { kind: route.kind });
        }
        Stage::Active | Stage::Maintenance | Stage::Deprecation { .. } => {}
    }
    if !partner.tier.allows(route.kind) {
        return Err(Deny::TierInsufficient {
            kind: route.kind,
            tier: partner.tier,
        });
    }
    if !partner.permissions.contains(&*route.permission) {
        return Err(Deny::PermissionDenied {
            permission: route.permission.clone(),
        });
    }
    // A token's scope can only narrow what the configuration grants, never widen it.
    let scope = principal.token.as_ref().and_then(|t| t.scope.as_ref());
    if scope.is_some_and(|s| !s.contains(&*route.permission)) {
        return Err(Deny::OutOfScope {
            permission: route.permission.clone(),
        });
    }
    if route.idempotency == Idempotency::Required && !facts.has_idempotency_key {
        return Err(Deny::IdempotencyKeyRequired);
    }
    Ok(Permit::new(principal.clone(), route.clone()))
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
            Self::Maintenance => "maintenance",
            Self::Deprecation { .. } => "deprecation",
            Self::EndOfSupport => "end_of_support",
        }
    }
}

#[cfg(test)]
mod tests;
