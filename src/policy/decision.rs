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
    /// The partner is at `end_of_support`, or deprecated and past its sunset.
    #[error("partner access has ended{}", if *.sunset_passed { " (the sunset date has passed)" } else { " (end_of_support)" })]
    PartnerRevoked {
        /// It was deprecated and its sunset has passed.
        sunset_passed: bool,
    },
    /// The partner is suspended (by configuration, or automatically for misuse).
    #[error(
        "partner access is suspended{}{}",
        if *.misuse { " after repeated denied requests" } else { "" },
        .until.map_or(String::new(), |u| format!(" until {} (it lifts by itself then)", humantime::format_rfc3339_seconds(u)))
    )]
    PartnerSuspended {
        /// Suspended by the misuse detector, not by the configuration.
        misuse: bool,
        /// When it ends, if it ends by itself (`Retry-After` says when too).
        until: Option<std::time::SystemTime>,
    },
    /// A deprecated partner (or one in maintenance past its compliance date) asked for a
    /// non-read route.
    #[error(
        "partner is {}: only read routes are served, this route needs a {kind} permission",
        if *.compliance_overdue { "in maintenance past its compliance date" } else { "in deprecation" }
    )]
    StageRestricted {
        /// The route's permission kind.
        kind: PermissionKind,
        /// Maintenance past `compliance_due`, not deprecation.
        compliance_overdue: bool,
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
            Self::PartnerRevoked { .. } => "partner_revoked",
            Self::PartnerSuspended { .. } => "partner_suspended",
            Self::StageRestricted { .. } => "stage_restricted",
            Self::TierInsufficient { .. } => "tier_insufficient",
            Self::PermissionDenied { .. } | Self::OutOfScope { .. } => "permission_denied",
            Self::IdempotencyKeyRequired => "idempotency_key_required",
        }
    }

    /// The precise reason kept in the audit record.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::PartnerRevoked {
                sunset_passed: false,
            } => "stage_end_of_support",
            Self::PartnerRevoked {
                sunset_passed: true,
            } => "sunset_passed",
            Self::PartnerSuspended { misuse: false, .. } => "stage_suspended",
            Self::PartnerSuspended { misuse: true, .. } => "misuse_suspended",
            Self::StageRestricted {
                compliance_overdue: false,
                ..
            } => "stage_deprecation_non_read",
            Self::StageRestricted {
                compliance_overdue: true,
                ..
            } => "compliance_overdue",
            Self::TierInsufficient { .. } => "above_tier_ceiling",
            Self::PermissionDenied { .. } => "permission_not_held",
            Self::OutOfScope { .. } => "permission_not_in_token_scope",
            Self::IdempotencyKeyRequired => "idempotency_key_missing",
        }
    }
}
