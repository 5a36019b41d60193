//! `GatewayError`: every way the gateway itself answers instead of the upstream.

use crate::auth::AuthError;
use crate::normalize::NormalizeError;
use crate::policy::Deny;

/// An answer the gateway makes itself; `respond` turns each into problem+json.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// The request target is ambiguous or malformed.
    #[error("bad request target: {0}")]
    BadTarget(NormalizeError),
    /// Something else about the request is malformed.
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// The request head is larger than `limits.max_request_header_bytes`.
    #[error("request headers too large")]
    HeadersTooLarge,
    /// The path lies under a forbidden prefix.
    #[error("forbidden route")]
    ForbiddenRoute,
    /// Missing, unknown, expired or revoked credentials.
    #[error("invalid credentials: {0}")]
    InvalidCredentials(AuthError),
    /// No route template matches the path.
    #[error("no route")]
    RouteNotFound,
    /// A template matches, but not for this method.
    #[error("method not allowed")]
    MethodNotAllowed {
        /// The `Allow` header value.
        allow: String,
    },
    /// The decision refused the request.
    #[error("denied: {0}")]
    Denied(Deny),
    /// The client paused longer than `limits.client_body_timeout` while sending its body.
    #[error("request body timeout")]
    RequestTimeout,
    /// The body is larger than `limits.max_request_body_bytes`.
    #[error("payload too large")]
    PayloadTooLarge,
    /// The upstream refused or reset the connection.
    #[error("upstream unavailable: {0}")]
    UpstreamUnavailable(&'static str),
    /// The upstream was too slow.
    #[error("upstream timeout: {0}")]
    UpstreamTimeout(&'static str),
    /// The upstream answered with a response no partner may receive (ambiguous framing, an
    /// unrequested protocol switch).
    #[error("bad upstream response: {0}")]
    BadUpstreamResponse(&'static str),
    /// The partner is over its rate.
    #[error("rate limited")]
    RateLimited {
        /// Seconds until a request would be allowed.
        retry_after_secs: u64,
    },
    /// The client address is over its limit of unauthenticated requests.
    #[error("unauthenticated requests rate limited")]
    UnauthenticatedLimited {
        /// Seconds until the address may try again.
        retry_after_secs: u64,
    },
    /// The first request with this idempotency key is in flight (or its response was not kept).
    #[error("idempotency conflict: {0}")]
    IdempotencyConflict(&'static str),
    /// The partner holds `max` idempotency records already (`state.idempotency_max_per_partner`).
    #[error("idempotency quota exceeded")]
    IdempotencyQuota {
        /// The quota.
        max: usize,
    },
    /// The idempotency key was used for a different request.
    #[error("idempotency key reused")]
    IdempotencyKeyReused,
    /// The idempotency store cannot be reached (fail closed).
    #[error("state backend unavailable")]
    StateUnavailable,
    /// The audit trail cannot take the record, so the request is refused (fail closed).
    #[error("audit trail unavailable")]
    AuditUnavailable,
}

// === impl GatewayError ===

impl GatewayError {
    /// The SPEC error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadTarget(_) | Self::BadRequest(_) => "bad_request",
            Self::HeadersTooLarge => "headers_too_large",
            Self::ForbiddenRoute => "forbidden_route",
            Self::InvalidCredentials(_) => "invalid_credentials",
            Self::RouteNotFound => "route_not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::Denied(d) => d.code(),
            Self::PayloadTooLarge => "payload_too_large",
            Self::RequestTimeout => "request_timeout",
            Self::UpstreamUnavailable(_) => "upstream_unavailable",
            Self::UpstreamTimeout(_) => "upstream_timeout",
            Self::BadUpstreamResponse(_) => "bad_upstream_response",
            Self::AuditUnavailable => "audit_unavailable",
            Self::RateLimited { .. }
            | Self::UnauthenticatedLimited { .. }
            | Self::IdempotencyQuota { .. } => "rate_limited",
            Self::IdempotencyConflict(_) => "idempotency_conflict",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::StateUnavailable => "state_unavailable",
        }
    }

    /// The precise reason kept in the audit record.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::BadTarget(e) => e.reason(),
            Self::BadRequest(r)
            | Self::UpstreamUnavailable(r)
            | Self::UpstreamTimeout(r)
            | Self::BadUpstreamResponse(r) => r,
            Self::HeadersTooLarge => "header_bytes_limit",
            Self::ForbiddenRoute => "forbidden_prefix",
            Self::InvalidCredentials(e) => e.reason(),
            Self::RouteNotFound => "no_matching_path",
            Self::MethodNotAllowed { .. } => "no_route_for_method",
            Self::Denied(d) => d.reason(),
            Self::PayloadTooLarge => "body_bytes_limit",
            Self::RequestTimeout => "client_body_timeout",
            Self::AuditUnavailable => "audit_not_writable",
            Self::RateLimited { .. } => "over_rate",
            Self::UnauthenticatedLimited { .. } => "unauthenticated_over_rate",
            Self::IdempotencyQuota { .. } => "idempotency_quota_exceeded",
            Self::IdempotencyConflict(r) => r,
            Self::IdempotencyKeyReused => "idempotency_fingerprint_mismatch",
            Self::StateUnavailable => "state_backend_unreachable",
        }
    }

    /// Whether policy had allowed the request (the failure came after the decision).
    pub fn after_permit(&self) -> bool {
        match self {
            Self::UpstreamUnavailable(_)
            | Self::UpstreamTimeout(_)
            | Self::BadUpstreamResponse(_) => true,
            Self::BadTarget(_)
            | Self::BadRequest(_)
            | Self::HeadersTooLarge
            | Self::ForbiddenRoute
            | Self::InvalidCredentials(_)
            | Self::RouteNotFound
            | Self::MethodNotAllowed { .. }
            | Self::Denied(_)
            | Self::PayloadTooLarge
            | Self::RequestTimeout
            | Self::AuditUnavailable
            | Self::RateLimited { .. }
            | Self::UnauthenticatedLimited { .. }
            | Self::IdempotencyQuota { .. }
            | Self::IdempotencyConflict(_)
            | Self::IdempotencyKeyReused
            | Self::StateUnavailable => false,
        }
    }
}
