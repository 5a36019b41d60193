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

#[cfg(test)]
mod tests;
