//! Header rules both ways: strip hop-by-hop, credential and spoofable headers; add the ones
//! the upstream may trust.
//!
//! Stripping runs before adding, so a client that names a gateway header in `Connection`
//! cannot make the gateway drop it.

use http::header::{AUTHORIZATION, CONNECTION, CONTENT_LENGTH, HOST};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::auth::{API_KEY_HEADER, CredentialSource};
use crate::policy::Permit;

/// Headers that describe one connection, never the message (RFC 9110 §7.6.1, and
/// `HTTP2-Settings` of an h2c upgrade), plus `Expect`, which the gateway answers itself.
const HOP_BY_HOP: [&str; 11] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "expect",
    "http2-settings",
];

/// Forwarding and override headers a client could forge: the gateway sets its own forwarding
/// headers, and no framework behind it may act on a path or method that was never authorised
/// (ASP.NET, Symfony, Express `method-override`, Rack, Spring and proxies read these).
const SPOOFABLE: [&str; 16] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-real-ip",
    "x-request-id",
    "x-original-url",
    "x-rewrite-url",
    "x-http-method-override",
    "x-method-override",
    "x-http-method",
    "x-method",
    "x-original-method",
    "x-forwarded-method",
];

/// Upstream response headers that name the software behind the gateway.
const IDENTIFYING: [&str; 5] = [
    "server",
    "x-powered-by",
    "x-aspnet-version",
    "x-aspnetmvc-version",
    "x-runtime",
];

/// `X-Kwanus-Partner`.
pub(super) const KWANUS_PARTNER: HeaderName = HeaderName::from_static("x-kwanus-partner");
/// `X-Kwanus-Tier`.
pub(super) const KWANUS_TIER: HeaderName = HeaderName::from_static("x-kwanus-tier");
/// `X-Kwanus-Permission`.
pub(super) const KWANUS_PERMISSION: HeaderName = HeaderName::from_static("x-kwanus-permission");
/// `X-Kwanus-Route`.
pub(super) const KWANUS_ROUTE: HeaderName = HeaderName::from_static("x-kwanus-route");
/// `X-Request-Id`.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What the gateway tells the upstream about a permitted request.
#[derive(Debug)]
pub(super) struct Forwarding<'a> {
    /// The proof of the decision.
    pub permit: &'a Permit,
    /// The gateway's request id.
    pub request_id: &'a HeaderValue,
    /// The client's address, as `X-Forwarded-For` carries it.
    pub client_ip: &'a HeaderValue,
    /// `http` or `https`, as the client connected.
    pub proto: super::Proto,
    /// The upstream's `host[:port]`.
    pub upstream_host: &'a HeaderValue,
    /// The validated host the client addressed (`X-Forwarded-Host`), if it named one.
    pub host: Option<&'a HeaderValue>,
    /// The signed identity assertion, when `[identity]` is configured.
    pub identity: Option<HeaderValue>,
}

/// Rewrites a request's headers for the upstream.
pub(super) fn to_upstream(h: &mut HeaderMap, f: &Forwarding<'_>) {
    let principal = f.permit.principal();
    let drop_authorization = principal.source == CredentialSource::Authorization;
    let named = connection_named(h);
    strip(h, |n| {
        let name = n.as_str();
        is_hop_by_hop(n, &named)
            || is_spoofable(name)
            // CGI, WSGI and Rack read `X_A` and `X-A` as the same variable (nginx drops them too).
            || name.bytes().any(|b| b == b'_')
            || n == API_KEY_HEADER
            || (drop_authorization && n == AUTHORIZATION)
            // Only the gateway may set `X-Kwanus-*`.
            || name.starts_with("x-kwanus-")
    });

    let route = f.permit.route();
    // Room for what follows at once, instead of growing the map as it comes.
    h.reserve(10);
    let [partner, tier] = &principal.partner.headers;
    let [route_name, permission] = &route.headers;
    h.insert(HOST, f.upstream_host.clone());
    if let Some(host) = f.host {
        h.insert(HeaderName::from_static("x-forwarded-host"), host.clone());
    }
    h.insert(KWANUS_PARTNER, partner.clone());
    h.insert(KWANUS_TIER, tier.clone());
    h.insert(KWANUS_PERMISSION, permission.clone());
    h.insert(KWANUS_ROUTE, route_name.clone());
    h.insert(REQUEST_ID, f.request_id.clone());
    h.insert(
        HeaderName::from_static("x-forwarded-for"),
        f.client_ip.clone(),
    );
    h.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static(f.proto.as_str()),
    );
    if let Some(id) = &f.identity {
        h.insert(HeaderName::from_static("x-kwanus-identity"), id.clone());
    }
}

/// A forwarding or override header a client could forge (one of `SPOOFABLE`).
fn is_spoofable(name: &str) -> bool {
    // Every such name starts with `x-` or is `forwarded`: most headers are out at once.
    (name.starts_with("x-") || name == "forwarded") && SPOOFABLE.contains(&name)
}

/// Rewrites an upstream response's headers for the client: hop-by-hop headers go, and so do
/// the ones that name the software behind the gateway, plus the upstream's own `remove` list.
pub(super) fn from_upstream(h: &mut HeaderMap, remove: &[HeaderName]) {
    let named = connection_named(h);
    strip(h, |n| {
        is_hop_by_hop(n, &named)
            || IDENTIFYING.contains(&n.as_str())
            || n.as_str().starts_with("x-backend")
            || remove.contains(n)
    });
}

/// The headers a `Connection` header names, except the message framing, which is the
/// gateway's to decide.
fn connection_named(h: &HeaderMap) -> Vec<HeaderName> {
    if !h.contains_key(CONNECTION) {
        return Vec::new();
    }
    h.get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .filter(|n| *n != CONTENT_LENGTH)
        .collect()
}

/// A hop-by-hop header, or one that `Connection` named.
fn is_hop_by_hop(name: &HeaderName, named: &[HeaderName]) -> bool {
    HOP_BY_HOP.contains(&name.as_str()) || (!named.is_empty() && named.contains(name))
}

/// Removes every header `doomed` picks, looking each present name up once (instead of
/// removing every name that might be there).
fn strip(h: &mut HeaderMap, doomed: impl Fn(&HeaderName) -> bool) {
    let Some(first) = h.keys().position(&doomed) else {
        return;
    };
    let names: Vec<HeaderName> = h
        .keys()
        .skip(first)
        .filter(|n| doomed(n))
        .cloned()
        .collect();
    for name in names {
        h.remove(name);
    }
}
