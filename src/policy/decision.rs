//! `Permit`, the proof forwarding requires, and `Deny`, with its SPEC code and precise reason.

use std::sync::Arc;

use crate::auth::Principal;
use crate::policy::{PermissionKind, Tier};
use crate::routes::Route;

/// Proof that `decide` allowed this principal on this route; only `policy` can make one.
#[derive(Debug, Clone)]
pub struct Permit {
    principal: Principal,
    route: Arc<Route>,
}

/// Why `decide` refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Deny {
    /// The partner is at `end_of_support`.
    #[error("partner access has ended (end_of_support)")]
    PartnerRevoked,
    /// A deprecated partner asked for a non-read route.
    #[error(
        "partner is in deprecation: only read routes are served, this route needs a {kind} permission"
    )]
    StageRestricted {
        /// The route's permission kind.
        kind: PermissionKind,
    },
    /// The route's permission kind is above the partner's tier ceiling.
    #[error("this route needs a {kind} permission, above the tier-{tier} ceiling")]
    TierInsufficient {
        /// The route's permission kind.
        kind: PermissionKind,
        /// The partner's tier.
        tier: Tier,
    },
    /// The partner does not hold the route's permission.
    #[error("requires permission {permission}")]
    PermissionDenied {
        /// The permission the route requires.
        permission: Arc<str>,
    },
    /// The partner holds the permission, but its token's `scope` leaves it out.
    #[error("requires permission {permission}, which the token's scope does not include")]
    OutOfScope {
        /// The permission the route requires.
        permission: Arc<str>,
    },
    /// The route requires an `Idempotency-Key` and none was sent.
    #[error("this route requires an Idempotency-Key header")]
    IdempotencyKeyRequired,
}

// === impl Permit ===

impl Permit {
    pub(super) fn new(principal: Principal, route: Arc<Route>) -> Self {
        Self { principal, route }
    }

    /// Who was allowed.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// Which route was allowed.
    pub fn route(&self) -> &Arc<Route> {
        &self.route
    }
}

// === impl Deny ===

impl Deny {
    /// The SPEC error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::PartnerRevoked => "partner_revoked",
            Self::StageRestricted { .. } => "stage_restricted",
            Self::TierInsufficient { .. } => "tier_insufficient",
            Self::PermissionDenied { .. } | Self::OutOfScope { .. } => "permission_denied",
            Self::IdempotencyKeyRequired => "idempotency_key_required",
        }
    }

    /// The precise reason kept in the audit record.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::PartnerRevoked => "stage_end_of_support",
            Self::StageRestricted { .. } => "stage_deprecation_non_read",
            Self::TierInsufficient { .. } => "above_tier_ceiling",
            Self::PermissionDenied { .. } => "permission_not_held",
            Self::OutOfScope { .. } => "permission_not_in_token_scope",
            Self::IdempotencyKeyRequired => "idempotency_key_missing",
        }
    }
}
