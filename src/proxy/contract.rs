//! The data-access rules on the wire: a request body is held and checked against its route's
//! schema before anything is forwarded; a response body is held and filtered (or refused)
//! before the partner sees a byte of it. Routes without a contract stream untouched.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::CONTENT_LENGTH;
use http::request::Parts;
use http::{HeaderValue, Response, StatusCode};
use http_body::Body as _;
use http_body_util::{BodyExt, Full};

use super::forward::Job;
use super::{Body, ClientBody, GatewayError, UpstreamFault, idempotency};
use crate::auth::Principal;
use crate::contract::{ResponseContract, Violation};
use crate::outcome::FieldsRemoved;
use crate::policy::Permit;
use crate::routes::Route;
use crate::snapshot::Snapshot;
use crate::upstream::RequestBody;

/// Headers that describe the exact bytes of a body; a filtered body drops them (names made
/// once: a `&str` is parsed and validated at every removal).
const BYTE_EXACT: [http::HeaderName; 5] = [
    http::header::ETAG,
    http::HeaderName::from_static("content-md5"),
    http::HeaderName::from_static("digest"),
    http::HeaderName::from_static("content-digest"),
    http::HeaderName::from_static("repr-digest"),
];

/// Request headers that make the upstream compare validators of the whole, unfiltered
/// document (a `304` against guessed validators would confirm a hidden value), or ask for a
/// part of it.
pub(super) const NOT_ON_CONTRACT_ROUTES: [http::HeaderName; 6] = [
    http::header::RANGE,
    http::header::IF_RANGE,
    http::header::IF_NONE_MATCH,
    http::header::IF_MATCH,
    http::header::IF_MODIFIED_SINCE,
    http::header::IF_UNMODIFIED_SINCE,
];

/// After the permit: a body that frameworks may read a method override from is read whole and
/// refused if it names one; a route with a `request_schema` gets the whole body, validated
/// (`422 request_contract_violation` if it does not); any other body streams.
pub(super) async fn request(
    snap: &Snapshot,
    route: &Route,
    parts: &Parts,
    body: ClientBody,
) -> Result<RequestBody, GatewayError> {
    let reading = Reading::of(parts, body.is_end_stream());
    if route.request_schema.is_none() && reading.is_none() {
        return Ok(RequestBody::Stream(body));
    }
    let bytes = idempotency::read_whole(snap, route, body).await?;
    // The schema first: its refusals (a charset included) say more than an override would.
    if let Some(schema) = &route.request_schema {
        schema
            .validate(&parts.headers, &bytes, route.request_limits)
            .map_err(GatewayError::RequestContractViolation)?;
    }
    if let Some(reading) = reading {
        reading.check(&parts.headers, &bytes)?;
    }
    Ok(RequestBody::Buffered(bytes))
}

/// How a framework behind the gateway may read a body's parameters — and so a method override
/// from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// `application/x-www-form-urlencoded`, or (Rack, on `POST`) no media type at all.
    UrlEncoded,
    /// `multipart/form-data`.
    Multipart,
    /// JSON on `POST`: Laravel and Symfony take `_method` from the JSON body, and so does
    /// Express's `method-override` with a body getter.
    Json,
}

impl Reading {
    /// The reading of a request's body: any `Content-Type` (a repeated one included: Node.js
    /// keeps the first, others the last) that makes it parameters. The frameworks override
    /// only `POST`, so JSON and untyped bodies are read on `POST` alone; forms always.
    fn of(parts: &Parts, empty: bool) -> Option<Self> {
        if empty {
            return None;
        }
        let post = parts.method == http::Method::POST;
        let mut types = parts.headers.get_all(http::header::CONTENT_TYPE).iter();
        let Some(first) = types.next() else {
            return post.then_some(Self::UrlEncoded);
        };
        std::iter::once(first).chain(types).find_map(|v| {
            let v = v.as_bytes().to_ascii_lowercase();
            let has = |needle: &[u8]| v.windows(needle.len()).any(|w| w == needle);
            if has(b"x-www-form-urlencoded") || (post && v.trim_ascii().is_empty()) {
                Some(Self::UrlEncoded)
            } else if has(b"multipart/") {
                Some(Self::Multipart)
            } else if post && has(b"json") {
                Some(Self::Json)
            } else {
                None
            }
        })
    }

    /// A body that names a method override (or that could hide one from the gateway:
    /// compressed, or in a charset where `_method` is not its ASCII bytes — UTF-7 JSON is
    /// decoded by Express) is refused.
    fn check(self, headers: &http::HeaderMap, body: &[u8]) -> Result<(), GatewayError> {
        use crate::normalize::params;
        let overrides = GatewayError::BadRequest(super::Malformed::MethodOverride);
        let ascii_charset = headers
            .get_all(http::header::CONTENT_TYPE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';').skip(1))
            .filter_map(|p| p.split_once('='))
            .filter(|(n, _)| n.trim().eq_ignore_ascii_case("charset"))
            .all(|(_, c)| {
                let c = c.trim().trim_matches('"');
                ["utf-8", "utf8", "us-ascii", "iso-8859-1"]
                    .iter()
                    .any(|ok| c.eq_ignore_ascii_case(ok))
            });
        if !crate::contract::identity_only(headers) || !ascii_charset {
            return Err(overrides);
        }
        let named = match self {
            Self::UrlEncoded => params::overrides_method(body),
            Self::Multipart => params::multipart_overrides_method(body),
            Self::Json => {
                crate::contract::any_top_level_key(body, |k| params::names_override(k.as_bytes()))
            }
        };
        if named { Err(overrides) } else { Ok(()) }
    }
}

/// What a route's response contract needs of the request it answers, taken before the request
/// is sent (sending consumes it): only for routes with `[routes.response]`, so other routes
/// pay nothing.
pub(super) struct Filter {
    permit: Permit,
    head_request: bool,
    timeout: Duration,
}

impl Filter {
    /// The filter for `job`'s answer, if its route has a contract.
    pub(super) fn of(job: &Job, parts: &Parts) -> Option<Self> {
        job.permit.route().response.as_ref()?;
        Some(Self {
            permit: job.permit.clone(),
            head_request: parts.method == http::Method::HEAD,
            timeout: job.snap.limits.upstream_timeout,
        })
    }

    /// Applies the contract to the upstream's answer (see `response`).
    pub(super) async fn apply(&self, rsp: Response<Body>) -> Result<Response<Body>, GatewayError> {
        match &self.permit.route().response {
            Some(c) => {
                let principal = self.permit.principal();
                response(c, principal, self.head_request, rsp, self.timeout).await
            }
            None => Ok(rsp),
        }
    }
}

/// Applies `filter`, if there is one.
pub(super) async fn filtered(
    filter: Option<&Filter>,
    rsp: Response<Body>,
) -> Result<Response<Body>, GatewayError> {
    match filter {
        Some(f) => f.apply(rsp).await,
        None => Ok(rsp),
    }
}

/// After the upstream answers, on a route with `[routes.response]`: the body held whole
/// (within `max_bytes` and `timeout`), every field the partner may not receive removed, or
/// `502 response_contract_violation`. A response without a body passes as it is.
async fn response(
    contract: &ResponseContract,
    principal: &Principal,
    head_request: bool,
    rsp: Response<Body>,
    timeout: Duration,
) -> Result<Response<Body>, GatewayError> {
    let violation = GatewayError::ResponseContractViolation;
    if rsp.status() == StatusCode::PARTIAL_CONTENT {
        return Err(violation(Violation::PartialContent));
    }
    let no_body = head_request
        || rsp.status() == StatusCode::NO_CONTENT
        || rsp.status() == StatusCode::NOT_MODIFIED
        || rsp.body().is_end_stream();
    if no_body {
        // The upstream's length and validators describe the unfiltered document; they would
        // tell how much was withheld.
        let mut rsp = rsp;
        if head_request || rsp.status() == StatusCode::NOT_MODIFIED {
            rsp.headers_mut().remove(CONTENT_LENGTH);
        }
        for name in &BYTE_EXACT {
            rsp.headers_mut().remove(name);
        }
        rsp.headers_mut().remove(http::header::LAST_MODIFIED);
        return Ok(rsp);
    }
    contract.check_head(rsp.headers()).map_err(violation)?;
    let (mut parts, body) = rsp.into_parts();
    let whole = tokio::time::timeout(timeout, read_capped(body, contract.max_bytes))
        .await
        .map_err(|_| GatewayError::UpstreamTimeout(UpstreamFault::ResponseTimeout))??;
    let holds = |permission: &str| holds(principal, permission);
    let passed = contract.apply(&whole, &holds).map_err(violation)?;
    let body = match passed.body {
        None => whole,
        Some(filtered) => {
            for name in &BYTE_EXACT {
                parts.headers.remove(name);
            }
            // It would tell when the withheld fields change.
            parts.headers.remove(http::header::LAST_MODIFIED);
            let removed = &passed.removed;
            parts.extensions.insert(FieldsRemoved {
                count: removed.count,
                pointers: removed.pointers.clone(),
                by_class: removed
                    .by_tag
                    .iter()
                    .map(|(tag, n)| (Arc::from(contract.classes.name(*tag)), *n))
                    .collect(),
            });
            Bytes::from(filtered)
        }
    };
    parts.headers.remove(http::header::TRANSFER_ENCODING);
    parts
        .headers
        .insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    Ok(Response::from_parts(
        parts,
        Full::new(body).map_err(|e| match e {}).boxed_unsync(),
    ))
}

/// Whether the principal may receive what `permission` guards: the partner holds it and its
/// token's scope (if any) does not leave it out.
fn holds(principal: &Principal, permission: &str) -> bool {
    principal.partner.permissions.contains(permission)
        && principal
            .token
            .as_ref()
            .and_then(|t| t.scope.as_ref())
            .is_none_or(|scope| scope.contains(permission))
}

/// Reads a response body whole; more than `max` bytes (declared or sent) is a violation, and
/// the rest is never read.
async fn read_capped(mut body: Body, max: usize) -> Result<Bytes, GatewayError> {
    let too_large = GatewayError::ResponseContractViolation(Violation::TooLarge);
    if body.size_hint().lower() > max as u64 {
        return Err(too_large);
    }
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|_| GatewayError::UpstreamUnavailable(UpstreamFault::ConnectionError))?;
        if let Some(data) = frame.data_ref() {
            if buf.len() + data.len() > max {
                return Err(too_large);
            }
            buf.extend_from_slice(data);
        }
    }
    Ok(buf.freeze())
}
