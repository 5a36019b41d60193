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

/// One row of the SPEC's error table: everything about an error but its prose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// The HTTP status.
    pub status: http::StatusCode,
    /// The stable problem+json `code`.
    pub code: &'static str,
    /// The precise reason kept in the audit record.
    pub reason: &'static str,
    /// `Retry-After` in seconds, when the client may retry.
    pub retry_after: Option<u64>,
    /// Whether policy had allowed the request (the failure came after the decision).
    pub after_permit: bool,
}

// === impl GatewayError ===

impl GatewayError {
    /// The error's row of the SPEC table — the one place status, code, reason, `Retry-After`
    /// and "after the permit" are decided.
    pub fn row(&self) -> Row {
        use http::StatusCode as S;
        let (status, code, reason, retry_after, after_permit) = match self {
            Self::BadTarget(e) => (S::BAD_REQUEST, "bad_request", e.reason(), None, false),
            Self::BadRequest(r) => (S::BAD_REQUEST, "bad_request", *r, None, false),
            Self::HeadersTooLarge => (
                S::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers_too_large",
                "header_bytes_limit",
                None,
                false,
            ),
            Self::ForbiddenRoute => (
                S::FORBIDDEN,
                "forbidden_route",
                "forbidden_prefix",
                None,
                false,
            ),
            Self::InvalidCredentials(e) => (
                S::UNAUTHORIZED,
                "invalid_credentials",
                e.reason(),
                None,
                false,
            ),
            Self::RouteNotFound => (
                S::NOT_FOUND,
                "route_not_found",
                "no_matching_path",
                None,
                false,
            ),
            Self::MethodNotAllowed { .. } => (
                S::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "no_route_for_method",
                None,
                false,
            ),
            Self::Denied(d @ Deny::IdempotencyKeyRequired) => {
                (S::PRECONDITION_REQUIRED, d.code(), d.reason(), None, false)
            }
            Self::Denied(d) => (S::FORBIDDEN, d.code(), d.reason(), None, false),
            Self::PayloadTooLarge => (
                S::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "body_bytes_limit",
                None,
                false,
            ),
            Self::RequestTimeout => (
                S::REQUEST_TIMEOUT,
                "request_timeout",
                "client_body_timeout",
                None,
                false,
            ),
            Self::UpstreamUnavailable(r) => {
                (S::BAD_GATEWAY, "upstream_unavailable", *r, Some(1), true)
            }
            Self::UpstreamTimeout(r) => (S::GATEWAY_TIMEOUT, "upstream_timeout", *r, None, true),
            Self::BadUpstreamResponse(r) => {
                (S::BAD_GATEWAY, "bad_upstream_response", *r, None, true)
            }
            Self::AuditUnavailable => (
                S::SERVICE_UNAVAILABLE,
                "audit_unavailable",
                "audit_not_writable",
                Some(1),
                false,
            ),
            Self::RateLimited { retry_after_secs } => (
                S::TOO_MANY_REQUESTS,
                "rate_limited",
                "over_rate",
                Some(*retry_after_secs),
                false,
            ),
            Self::UnauthenticatedLimited { retry_after_secs } => (
                S::TOO_MANY_REQUESTS,
                "rate_limited",
                "unauthenticated_over_rate",
                Some(*retry_after_secs),
                false,
            ),
            Self::IdempotencyQuota { .. } => (
                S::TOO_MANY_REQUESTS,
                "rate_limited",
                "idempotency_quota_exceeded",
                Some(60),
                false,
            ),
            Self::IdempotencyConflict(r) => {
                (S::CONFLICT, "idempotency_conflict", *r, Some(1), false)
            }
            Self::IdempotencyKeyReused => (
                S::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "idempotency_fingerprint_mismatch",
                None,
                false,
            ),
            Self::StateUnavailable => (
                S::SERVICE_UNAVAILABLE,
                "state_unavailable",
                "state_backend_unreachable",
                Some(1),
                false,
            ),
        };
        Row {
            status,
            code,
            reason,
            retry_after,
            after_permit,
        }
    }

    /// The SPEC error code.
    pub fn code(&self) -> &'static str {
        self.row().code
    }

    /// The precise reason kept in the audit record.
    pub fn reason(&self) -> &'static str {
        self.row().reason
    }

    /// Whether policy had allowed the request (the failure came after the decision).
    pub fn after_permit(&self) -> bool {
        self.row().after_permit
    }
}
