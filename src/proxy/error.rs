//! `GatewayError`: every way the gateway itself answers instead of the upstream.

use crate::auth::AuthError;
use crate::model::Fault;
use crate::normalize::NormalizeError;
use crate::policy::Deny;

pub use super::reason::{Conflict, Forbidden, Malformed, UpstreamFault};

/// An answer the gateway makes itself; `respond` turns each into problem+json.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// The request target is ambiguous or malformed.
    #[error("bad request target: {0}")]
    BadTarget(NormalizeError),
    /// Something else about the request is malformed.
    #[error("bad request: {0}")]
    BadRequest(Malformed),
    /// The request head is larger than `limits.max_request_header_bytes`.
    #[error("request headers too large")]
    HeadersTooLarge,
    /// The path lies under a forbidden prefix.
    #[error("forbidden route")]
    ForbiddenRoute(Forbidden),
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
    UpstreamUnavailable(UpstreamFault),
    /// The upstream was too slow.
    #[error("upstream timeout: {0}")]
    UpstreamTimeout(UpstreamFault),
    /// The upstream answered with a response no partner may receive (ambiguous framing, an
    /// unrequested protocol switch).
    #[error("bad upstream response: {0}")]
    BadUpstreamResponse(UpstreamFault),
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
    IdempotencyConflict(Conflict),
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
    /// The request body does not satisfy the route's `request_schema`.
    #[error("request contract violation")]
    RequestContractViolation(crate::contract::RequestViolation),
    /// The upstream's answer breaks the route's `[routes.response]` contract.
    #[error("response contract violation: {}", .0.as_str())]
    ResponseContractViolation(crate::contract::Violation),
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
    /// Whether the connection ends with this answer (`Connection: close`): the request's
    /// framing cannot be trusted, so nothing after it is read as a request.
    pub close: bool,
}

// === impl GatewayError ===

impl GatewayError {
    /// The error's row of the SPEC table — the one place status, code, reason, `Retry-After`
    /// and "after the permit" are decided.
    pub fn row(&self) -> Row {
        use http::StatusCode as S;
        let (status, code, reason, retry_after, after_permit) = match self {
            Self::BadTarget(e) => (S::BAD_REQUEST, "bad_request", e.reason(), None, false),
            Self::BadRequest(r) => (S::BAD_REQUEST, "bad_request", r.as_str(), None, false),
            Self::HeadersTooLarge => (
                S::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers_too_large",
                "header_bytes_limit",
                None,
                false,
            ),
            Self::ForbiddenRoute(by) => (S::FORBIDDEN, "forbidden_route", by.as_str(), None, false),
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
            Self::Denied(
                d @ Deny::PartnerSuspended {
                    until: Some(until), ..
                },
            ) => {
                // Whole seconds to the end, at least one: a client retrying then is served.
                let left = until
                    .duration_since(std::time::SystemTime::now())
                    .map_or(1, |d| d.as_secs() + u64::from(d.subsec_nanos() > 0));
                (S::FORBIDDEN, d.code(), d.reason(), Some(left.max(1)), false)
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
            Self::UpstreamUnavailable(r) => (
                S::BAD_GATEWAY,
                "upstream_unavailable",
                r.as_str(),
                Some(1),
                true,
            ),
            Self::UpstreamTimeout(r) => (
                S::GATEWAY_TIMEOUT,
                "upstream_timeout",
                r.as_str(),
                None,
                true,
            ),
            Self::BadUpstreamResponse(r) => (
                S::BAD_GATEWAY,
                "bad_upstream_response",
                r.as_str(),
                None,
                true,
            ),
            Self::RequestContractViolation(v) => (
                S::UNPROCESSABLE_ENTITY,
                "request_contract_violation",
                v.reason,
                None,
                false,
            ),
            Self::ResponseContractViolation(v) => (
                S::BAD_GATEWAY,
                "response_contract_violation",
                v.as_str(),
                None,
                true,
            ),
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
            Self::IdempotencyConflict(r) => (
                S::CONFLICT,
                "idempotency_conflict",
                r.as_str(),
                Some(1),
                false,
            ),
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
            close: matches!(self, Self::BadRequest(m) if m.ends_connection()),
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

    /// Whose doing the answer is: only the partner's count as its denials.
    pub fn fault(&self) -> Fault {
        match self {
            Self::BadTarget(_)
            | Self::BadRequest(_)
            | Self::HeadersTooLarge
            | Self::ForbiddenRoute(_)
            | Self::InvalidCredentials(_)
            | Self::RouteNotFound
            | Self::MethodNotAllowed { .. }
            | Self::Denied(_)
            | Self::RequestTimeout
            | Self::PayloadTooLarge
            | Self::RateLimited { .. }
            | Self::UnauthenticatedLimited { .. }
            | Self::IdempotencyConflict(_)
            | Self::IdempotencyQuota { .. }
            | Self::IdempotencyKeyReused
            | Self::RequestContractViolation(_) => Fault::Partner,
            Self::StateUnavailable | Self::AuditUnavailable => Fault::Gateway,
            Self::UpstreamUnavailable(_)
            | Self::UpstreamTimeout(_)
            | Self::BadUpstreamResponse(_)
            | Self::ResponseContractViolation(_) => Fault::Upstream,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Deny;

    /// One error of every variant: `index` has no wildcard, so a new variant does not compile
    /// until it has a sample here.
    fn samples() -> Vec<GatewayError> {
        use GatewayError as E;
        let all = vec![
            E::BadTarget(NormalizeError::NotOriginForm),
            E::BadRequest(Malformed::MethodOverride),
            E::HeadersTooLarge,
            E::ForbiddenRoute(Forbidden::Prefix),
            E::InvalidCredentials(AuthError::Missing),
            E::RouteNotFound,
            E::MethodNotAllowed {
                allow: "GET".into(),
            },
            E::Denied(Deny::IdempotencyKeyRequired),
            E::RequestTimeout,
            E::PayloadTooLarge,
            E::UpstreamUnavailable(UpstreamFault::ConnectFailed),
            E::UpstreamTimeout(UpstreamFault::ResponseTimeout),
            E::BadUpstreamResponse(UpstreamFault::AmbiguousFraming),
            E::RateLimited {
                retry_after_secs: 1,
            },
            E::UnauthenticatedLimited {
                retry_after_secs: 1,
            },
            E::IdempotencyConflict(Conflict::InFlight),
            E::IdempotencyQuota { max: 1 },
            E::IdempotencyKeyReused,
            E::StateUnavailable,
            E::AuditUnavailable,
            E::RequestContractViolation(crate::contract::RequestViolation {
                reason: "request_schema",
                errors: Vec::new(),
            }),
            E::ResponseContractViolation(crate::contract::Violation::ContentType),
        ];
        for (i, e) in all.iter().enumerate() {
            assert_eq!(index(e), i, "{e:?}");
        }
        all
    }

    fn index(e: &GatewayError) -> usize {
        use GatewayError as E;
        match e {
            E::BadTarget(_) => 0,
            E::BadRequest(_) => 1,
            E::HeadersTooLarge => 2,
            E::ForbiddenRoute(_) => 3,
            E::InvalidCredentials(_) => 4,
            E::RouteNotFound => 5,
            E::MethodNotAllowed { .. } => 6,
            E::Denied(_) => 7,
            E::RequestTimeout => 8,
            E::PayloadTooLarge => 9,
            E::UpstreamUnavailable(_) => 10,
            E::UpstreamTimeout(_) => 11,
            E::BadUpstreamResponse(_) => 12,
            E::RateLimited { .. } => 13,
            E::UnauthenticatedLimited { .. } => 14,
            E::IdempotencyConflict(_) => 15,
            E::IdempotencyQuota { .. } => 16,
            E::IdempotencyKeyReused => 17,
            E::StateUnavailable => 18,
            E::AuditUnavailable => 19,
            E::RequestContractViolation(_) => 20,
            E::ResponseContractViolation(_) => 21,
        }
    }

    #[test]
    fn every_answers_fault_is_the_one_its_code_is_listed_with() {
        let deny_codes = [
            "partner_revoked",
            "partner_suspended",
            "stage_restricted",
            "tier_insufficient",
            "permission_denied",
            "idempotency_key_required",
        ];
        let mut seen: Vec<&str> = deny_codes.to_vec();
        for e in samples() {
            assert_eq!(
                crate::model::fault_of(e.code()),
                Some(e.fault()),
                "{e:?} ({})",
                e.code()
            );
            seen.push(e.code());
        }
        for d in deny_codes {
            assert_eq!(crate::model::fault_of(d), Some(Fault::Partner), "{d}");
        }
        seen.sort_unstable();
        seen.dedup();
        let mut listed: Vec<&str> = crate::model::CODES.iter().map(|(c, _)| *c).collect();
        listed.sort_unstable();
        assert_eq!(seen, listed, "every listed code is answered, and no other");
    }
}
