//! The decision: a pure function of (request facts, config snapshot types) to `Permit` or `Deny`.
//!
//! No I/O, no async, no hyper types: `policy` sees only `auth::Principal` and `routes::Route`.

mod decision;

pub use crate::model::{PermissionKind, Stage, Tier};
pub use decision::{Deny, Permit};

use std::sync::Arc;

use crate::auth::Principal;
use crate::routes::{Idempotency, Route};

/// What the request itself says that the decision needs (beyond who and which route).
#[derive(Debug, Clone, Copy)]
pub struct Facts {
    /// Whether an `Idempotency-Key` header was sent.
    pub has_idempotency_key: bool,
    /// When the request is decided (dates in the lifecycle are compared with it).
    pub now: std::time::SystemTime,
    /// Until when the partner is suspended for misuse, if it is now (`[governance.misuse]`).
    pub misuse_suspended_until: Option<std::time::SystemTime>,
}

// === impl Facts ===

impl Facts {
    /// A request without an `Idempotency-Key`, from a partner not suspended, decided now.
    pub fn now() -> Self {
        Self {
            has_idempotency_key: false,
            now: std::time::SystemTime::now(),
            misuse_suspended_until: None,
        }
    }
}

/// Decides one request: stage, then tier ceiling, then the route's permission, then the
/// route's request preconditions. `Permit` is the only way to reach an upstream.
pub fn decide(principal: &Principal, route: &Arc<Route>, facts: &Facts) -> Result<Permit, Deny> {
    let partner = &principal.partner;
    let now = facts.now;
    let reads_only = route.kind != PermissionKind::Read;
    match partner.stage {
        Stage::EndOfSupport => {
            return Err(Deny::PartnerRevoked {
                sunset_passed: false,
            });
        }
        Stage::Suspended { until } if until.is_none_or(|u| now < u) => {
            return Err(Deny::PartnerSuspended {
                misuse: false,
                until,
            });
        }
        Stage::Deprecation { sunset, .. } if now >= sunset => {
            return Err(Deny::PartnerRevoked {
                sunset_passed: true,
            });
        }
        Stage::Deprecation { .. } if reads_only => {
            return Err(Deny::StageRestricted {
                kind: route.kind,
                compliance_overdue: false,
            });
        }
        Stage::Maintenance { compliance_due } if now >= compliance_due && reads_only => {
            return Err(Deny::StageRestricted {
                kind: route.kind,
                compliance_overdue: true,
            });
        }
        Stage::Active
        | Stage::Maintenance { .. }
        | Stage::Deprecation { .. }
        | Stage::Suspended { .. } => {}
    }
    if let Some(until) = facts.misuse_suspended_until {
        return Err(Deny::PartnerSuspended {
            misuse: true,
            until: Some(until),
        });
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

#[cfg(test)]
mod tests;
