//! One exhaustive table from `GatewayError` to status and RFC 9457 problem+json body.
//!
//! Bodies carry a stable code and the request id, never internal addresses or key ids.

use bytes::Bytes;
use http::header::{ALLOW, CONNECTION, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, Response};
use http_body_util::{BodyExt, Full};
use serde::Serialize;

use super::{Body, Conflict, GatewayError};
use crate::policy::Deny;

/// The problem+json media type.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// RFC 9457 problem details, plus our `code` and `request_id` members.
#[derive(Debug, Serialize)]
struct Problem<'a> {
    r#type: &'static str,
    title: &'static str,
    status: u16,
    code: &'static str,
    detail: String,
    request_id: &'a str,
    /// For `request_contract_violation`: where the body fails its schema, and how.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<SchemaErrorItem<'a>>,
}

/// One schema error: a JSON Pointer into the body and a message without the partner's data.
#[derive(Debug, Serialize)]
struct SchemaErrorItem<'a> {
    pointer: &'a str,
    message: &'a str,
}

/// What the client is told; identical for every credential failure, so keys cannot be probed.
fn detail(e: &GatewayError, route: Option<&str>) -> String {
    let route = route.unwrap_or("-");
    match e {
        GatewayError::BadTarget(n) => format!("the request target was refused: {n}"),
        GatewayError::BadRequest(r) => format!("the request was refused: {r}"),
        GatewayError::HeadersTooLarge => "the request headers are larger than allowed".into(),
        GatewayError::ForbiddenRoute(_) => "this path is never served through the gateway".into(),
        GatewayError::InvalidCredentials(_) => "a valid API key is required".into(),
        GatewayError::RouteNotFound => "no route matches this path".into(),
        GatewayError::MethodNotAllowed { allow } => {
            format!("this path allows only: {allow}")
        }
        GatewayError::Denied(d @ (Deny::PermissionDenied { .. } | Deny::OutOfScope { .. })) => {
            format!("route {route} {d}")
        }
        GatewayError::Denied(d) => d.to_string(),
        GatewayError::PayloadTooLarge => "the request body is larger than allowed".into(),
        GatewayError::RequestTimeout => "the request body arrived too slowly".into(),
        GatewayError::UpstreamUnavailable(_) => "the upstream service is unavailable".into(),
        GatewayError::UpstreamTimeout(_) => "the upstream service did not answer in time".into(),
        GatewayError::BadUpstreamResponse(_) => {
            "the upstream service answered with a malformed response".into()
        }
        GatewayError::AuditUnavailable => {
            "the gateway cannot record requests right now; retry shortly".into()
        }
        GatewayError::RateLimited { retry_after_secs } => {
            format!("rate limit exceeded; retry after {retry_after_secs} s")
        }
        GatewayError::UnauthenticatedLimited { retry_after_secs } => format!(
            "too many requests without valid credentials from this address; retry after {retry_after_secs} s"
        ),
        GatewayError::IdempotencyConflict(Conflict::InFlight) => {
            "a request with this Idempotency-Key is still being processed".into()
        }
        GatewayError::IdempotencyConflict(_) => "the response to this Idempotency-Key was larger than state.idempotency_max_body_bytes and was not kept for replay (or the upstream may have acted on it without answering); it is not run again".into(),
        GatewayError::IdempotencyQuota { max } => format!(
            "this partner already holds {max} idempotency records (state.idempotency_max_per_partner); retry once earlier ones expire"
        ),
        GatewayError::IdempotencyKeyReused => {
            "this Idempotency-Key was used for a different request".into()
        }
        GatewayError::StateUnavailable => {
            "idempotent requests cannot be accepted right now; retry shortly".into()
        }
        GatewayError::RequestContractViolation(_) => format!(
            "the request body does not satisfy the schema of route {route}; see errors"
        ),
        GatewayError::ResponseContractViolation(v) => format!(
            "the upstream's answer breaks the response contract of route {route} ({}); nothing of it was forwarded",
            v.as_str()
        ),
    }
}

/// The problem+json response for `e`.
pub(crate) fn error(e: &GatewayError, request_id: &str, route: Option<&str>) -> Response<Body> {
    let row = e.row();
    let problem = Problem {
        r#type: "about:blank",
        title: row.status.canonical_reason().unwrap_or("Error"),
        status: row.status.as_u16(),
        code: row.code,
        detail: detail(e, route),
        request_id,
        errors: match e {
            GatewayError::RequestContractViolation(v) => v
                .errors
                .iter()
                .map(|(pointer, message)| SchemaErrorItem { pointer, message })
                .collect(),
            _ => Vec::new(),
        },
    };
    // Serialising a struct of strings and integers cannot fail.
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    let mut rsp = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|e| match e {})
            .boxed_unsync(),
    );
    *rsp.status_mut() = row.status;
    let h = rsp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    if let Some(secs) = row.retry_after {
        h.insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    if row.close {
        // HTTP/1: the connection ends after this answer (HTTP/2 drops the header).
        h.insert(CONNECTION, HeaderValue::from_static("close"));
    }
    match e {
        GatewayError::MethodNotAllowed { allow } => {
            if let Ok(v) = HeaderValue::from_str(allow) {
                h.insert(ALLOW, v);
            }
        }
        GatewayError::InvalidCredentials(_) => {
            h.insert(
                http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"kwanus\""),
            );
        }
        _ => {}
    }
    rsp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::AuthError;

    #[test]
    fn every_credential_failure_reads_the_same() {
        let errors = [
            AuthError::Missing,
            AuthError::Unknown,
            AuthError::Malformed,
            AuthError::UnsupportedScheme,
            AuthError::Ambiguous,
            AuthError::Expired {
                partner: "acme".into(),
                key_id: "k".into(),
            },
            AuthError::Revoked {
                partner: "acme".into(),
                key_id: "k".into(),
            },
            AuthError::Jwt {
                error: crate::auth::JwtError::Expired,
                partner: None,
            },
            AuthError::MtlsMismatch {
                partner: "acme".into(),
                key_id: "k".into(),
            },
        ];
        let details: Vec<_> = errors
            .into_iter()
            .map(|a| {
                let e = GatewayError::InvalidCredentials(a);
                let row = e.row();
                // What the client sees: everything but the reason (kept for the audit record).
                (row.status, row.code, row.retry_after, detail(&e, Some("r")))
            })
            .collect();
        assert!(details.windows(2).all(|w| w[0] == w[1]), "{details:?}");
    }
}
