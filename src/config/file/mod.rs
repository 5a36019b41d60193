//! Serde types that mirror `gateway.toml` exactly; no logic, and they never leave `config`.
//!
//! Durations and timestamps stay strings here so that `validate` can report a bad one with
//! its place instead of failing the whole parse.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::defaults;

mod governance;
mod partners;
mod routes;

pub(crate) use governance::{Governance, Misuse};
pub(crate) use partners::{DateField, Grant, GrantTable, Key, Partner};
pub(crate) use routes::{DataClass, Response, Route};

/// The whole configuration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct File {
    /// Path prefixes that are always refused (default `["/internal", "/db"]`).
    pub(crate) forbidden: Option<Vec<String>>,
    /// Path segments refused wherever they appear (default `["internal", "db"]`).
    pub(crate) forbidden_segments: Option<Vec<String>>,
    /// The partner listener.
    #[serde(default)]
    pub(crate) server: Server,
    /// The admin listener.
    pub(crate) admin: Option<Admin>,
    /// Request size and time limits.
    #[serde(default)]
    pub(crate) limits: Limits,
    /// The audit trail.
    pub(crate) audit: Option<Audit>,
    /// Per-tier settings, keyed `"1"`, `"2"`, `"3"`.
    #[serde(default)]
    pub(crate) tiers: BTreeMap<String, Tier>,
    /// The permission registry.
    #[serde(default)]
    pub(crate) permissions: BTreeMap<String, Permission>,
    /// Upstream services.
    #[serde(default)]
    pub(crate) upstreams: Vec<Upstream>,
    /// The route allow-list.
    #[serde(default)]
    pub(crate) routes: Vec<Route>,
    /// Named classes of response fields and who may receive them.
    #[serde(default)]
    pub(crate) data_classes: Vec<DataClass>,
    /// Partners and their keys.
    #[serde(default)]
    pub(crate) partners: Vec<Partner>,
    /// Token issuers.
    #[serde(default)]
    pub(crate) auth: AuthSection,
    /// Signed identity assertions to upstreams.
    pub(crate) identity: Option<Identity>,
    /// Rate-limit and idempotency state.
    pub(crate) state: Option<StateFile>,
    /// Grant metadata, approvals and misuse detection.
    pub(crate) governance: Option<Governance>,
}

/// `[state]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StateFile {
    /// `memory` (default) or `redis`.
    #[serde(default = "default_backend")]
    pub(crate) backend: String,
    /// `redis://host:port/db`, for `redis`.
    pub(crate) redis_url: Option<String>,
    /// How long idempotency records live (default 24h).
    pub(crate) idempotency_ttl: Option<String>,
    /// Largest response body kept for replay (default 64 KiB); `idempotency_max_body` is the
    /// older name.
    #[serde(alias = "idempotency_max_body")]
    pub(crate) idempotency_max_body_bytes: Option<usize>,
    /// Idempotency records one partner may hold at once (default 10 000).
    pub(crate) idempotency_max_per_partner: Option<usize>,
    /// Most idempotency records kept in memory (default 100 000).
    pub(crate) max_entries: Option<usize>,
    /// Longest a request waits for Redis before going on without it (default 50ms).
    pub(crate) timeout: Option<String>,
}

fn default_backend() -> String {
    defaults::STATE_BACKEND.to_owned()
}

/// `[auth]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuthSection {
    /// `[[auth.jwt]]`.
    #[serde(default)]
    pub(crate) jwt: Vec<JwtIssuer>,
}

/// One `[[auth.jwt]]` issuer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JwtIssuer {
    pub(crate) issuer: String,
    pub(crate) audiences: Vec<String>,
    /// Pinned: RS256, ES256, EdDSA, or HS256 (with `secret`).
    pub(crate) algorithms: Vec<String>,
    /// JWKS file with the issuer's public keys (re-read on reload).
    pub(crate) jwks_file: Option<String>,
    /// Shared secret, only for HS256.
    pub(crate) secret: Option<String>,
    /// The claim that names the partner.
    #[serde(default = "default_partner_claim")]
    pub(crate) partner_claim: String,
    /// Clock skew allowed for `exp` and `nbf` (explicit).
    pub(crate) leeway: String,
}

/// `[identity]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Identity {
    /// Ed25519 or P-256 private key, PKCS#8 PEM.
    pub(crate) signing_key: String,
    /// Lifetime of an assertion (at most 60 s).
    #[serde(default = "default_identity_ttl")]
    pub(crate) ttl: String,
    /// `iss` of the assertions.
    #[serde(default = "default_identity_issuer")]
    pub(crate) issuer: String,
}

fn default_partner_claim() -> String {
    defaults::JWT_PARTNER_CLAIM.to_owned()
}
fn default_identity_ttl() -> String {
    defaults::IDENTITY_TTL.to_owned()
}
fn default_identity_issuer() -> String {
    defaults::IDENTITY_ISSUER.to_owned()
}

/// `[server]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Server {
    /// Socket address of the partner listener.
    #[serde(default = "default_listen")]
    pub(crate) listen: String,
    /// How long shutdown waits for in-flight requests.
    #[serde(default = "default_drain_timeout")]
    pub(crate) drain_timeout: String,
    /// On SIGTERM: how long `/readyz` says 503 while partners are still served, before the
    /// listeners close (lets a load balancer stop sending first).
    #[serde(default = "default_shutdown_delay")]
    pub(crate) shutdown_delay: String,
    /// Every route path starts with a version segment (`/v1/`); `false` needs a
    /// `justification`.
    #[serde(default = "default_require_versioned_routes")]
    pub(crate) require_versioned_routes: bool,
    /// Why a safeguard of this section is off (`require_versioned_routes = false`).
    pub(crate) justification: Option<String>,
    /// TLS termination; plain HTTP (h1 + h2c) without it.
    pub(crate) tls: Option<Tls>,
}

/// `server.tls`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Tls {
    /// PEM certificate chain.
    pub(crate) cert: String,
    /// PEM private key.
    pub(crate) key: String,
    /// PEM CA bundle for partner client certificates (enables mTLS).
    pub(crate) client_ca: Option<String>,
}

/// `[admin]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Admin {
    /// Socket address of the admin listener.
    pub(crate) listen: String,
    /// Hex SHA-256 of the admin bearer token.
    pub(crate) token_sha256: Option<String>,
    /// Admin connections open at once; more are closed at accept.
    #[serde(default = "default_admin_max_connections")]
    pub(crate) max_connections: usize,
}

/// `[limits]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Limits {
    /// Largest request head (target plus headers).
    #[serde(default = "default_header_bytes")]
    pub(crate) max_request_header_bytes: u64,
    /// Largest request body, with or without `Content-Length`.
    #[serde(default = "default_body_bytes")]
    pub(crate) max_request_body_bytes: u64,
    /// Time a client has to send the request head.
    #[serde(default = "default_header_timeout")]
    pub(crate) client_header_timeout: String,
    /// Time to open a connection to an upstream.
    #[serde(default = "default_connect_timeout")]
    pub(crate) upstream_connect_timeout: String,
    /// Time an upstream has to answer with a response head.
    #[serde(default = "default_upstream_timeout")]
    pub(crate) upstream_timeout: String,
    /// Longest pause between two pieces of a request body.
    #[serde(default = "default_body_timeout")]
    pub(crate) client_body_timeout: String,
    /// Partner connections open at once; more are closed at accept.
    #[serde(default = "default_max_connections")]
    pub(crate) max_connections: usize,
    /// HTTP/2: streams open at once per connection.
    #[serde(default = "default_h2_streams")]
    pub(crate) h2_max_concurrent_streams: u32,
    /// HTTP/2: largest frame payload accepted.
    #[serde(default = "default_h2_frame")]
    pub(crate) h2_max_frame_size: u32,
    /// HTTP/2: streams a client may reset before the connection is closed (rapid reset).
    #[serde(default = "default_h2_resets")]
    pub(crate) h2_max_pending_reset_streams: u32,
    /// HTTP/2: how often to ping an idle connection.
    #[serde(default = "default_h2_ping")]
    pub(crate) h2_keepalive_interval: String,
    /// HTTP/2: how long to wait for a ping's answer.
    #[serde(default = "default_h2_ping_timeout")]
    pub(crate) h2_keepalive_timeout: String,
    /// Requests per second one client address may make that fail authentication or probe a
    /// forbidden route; more get 429 and are summarised in the trail.
    #[serde(default = "default_unauthenticated_rate")]
    pub(crate) unauthenticated_rate_per_second: f64,
    /// Burst of such requests per client address.
    #[serde(default = "default_unauthenticated_burst")]
    pub(crate) unauthenticated_burst: u32,
}

/// `[audit]` (the trail itself is written by the audit capability).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Audit {
    /// `false` runs without a trail (a disabled safeguard); the section must then say only that.
    pub(crate) enabled: Option<bool>,
    pub(crate) dir: Option<String>,
    pub(crate) durability: Option<String>,
    pub(crate) flush_interval: Option<String>,
    pub(crate) rotate_bytes: Option<u64>,
    pub(crate) retention_days: Option<u32>,
    pub(crate) signing_key: Option<String>,
    pub(crate) checkpoint_every: Option<u64>,
    pub(crate) checkpoint_interval: Option<String>,
    /// A second folder every signed checkpoint is also appended to (fsynced).
    pub(crate) witness_dir: Option<String>,
}

/// `[tiers.N]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Tier {
    pub(crate) rate_per_second: Option<f64>,
    pub(crate) burst: Option<u32>,
}

/// One entry of `[permissions]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Permission {
    /// `read`, `workflow`, `write` or `intelligence`.
    pub(crate) kind: String,
    /// Free text for people; read by them, not by the gateway.
    pub(crate) description: Option<String>,
}

/// `[[upstreams]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Upstream {
    pub(crate) name: String,
    pub(crate) url: String,
    /// PEM CA bundle for an `https://` upstream (default: the system roots).
    pub(crate) ca_file: Option<String>,
    /// PEM client certificate for upstream mTLS (with `client_key`).
    pub(crate) client_cert: Option<String>,
    /// PEM private key of `client_cert`.
    pub(crate) client_key: Option<String>,
    /// Speak HTTP/2: ALPN h2 over TLS, prior knowledge (h2c) over plain HTTP.
    #[serde(default)]
    pub(crate) http2: bool,
    /// Response header names removed before the partner sees them, besides the built-in
    /// identity headers (`Server`, `X-Powered-By`, ...).
    #[serde(default)]
    pub(crate) response_headers_remove: Vec<String>,
    /// Allows a well-known database port in `url` (with a `justification`).
    #[serde(default)]
    pub(crate) allow_database_port: bool,
    /// Why the upstream needs what integrity rules otherwise refuse.
    pub(crate) justification: Option<String>,
}

// === impl Server ===

impl Default for Server {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            drain_timeout: default_drain_timeout(),
            shutdown_delay: default_shutdown_delay(),
            require_versioned_routes: default_require_versioned_routes(),
            justification: None,
            tls: None,
        }
    }
}

// === impl Limits ===

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_request_header_bytes: default_header_bytes(),
            max_request_body_bytes: default_body_bytes(),
            client_header_timeout: default_header_timeout(),
            upstream_connect_timeout: default_connect_timeout(),
            upstream_timeout: default_upstream_timeout(),
            client_body_timeout: default_body_timeout(),
            max_connections: default_max_connections(),
            h2_max_concurrent_streams: default_h2_streams(),
            h2_max_frame_size: default_h2_frame(),
            h2_max_pending_reset_streams: default_h2_resets(),
            h2_keepalive_interval: default_h2_ping(),
            h2_keepalive_timeout: default_h2_ping_timeout(),
            unauthenticated_rate_per_second: default_unauthenticated_rate(),
            unauthenticated_burst: default_unauthenticated_burst(),
        }
    }
}

fn default_listen() -> String {
    defaults::LISTEN.to_owned()
}
fn default_require_versioned_routes() -> bool {
    defaults::REQUIRE_VERSIONED_ROUTES
}
fn default_shutdown_delay() -> String {
    defaults::SHUTDOWN_DELAY.to_owned()
}
fn default_drain_timeout() -> String {
    defaults::DRAIN_TIMEOUT.to_owned()
}
fn default_header_bytes() -> u64 {
    defaults::MAX_REQUEST_HEADER_BYTES
}
fn default_body_bytes() -> u64 {
    defaults::MAX_REQUEST_BODY_BYTES
}
fn default_header_timeout() -> String {
    defaults::CLIENT_HEADER_TIMEOUT.to_owned()
}
fn default_connect_timeout() -> String {
    defaults::UPSTREAM_CONNECT_TIMEOUT.to_owned()
}
fn default_upstream_timeout() -> String {
    defaults::UPSTREAM_TIMEOUT.to_owned()
}
fn default_body_timeout() -> String {
    defaults::CLIENT_BODY_TIMEOUT.to_owned()
}
fn default_max_connections() -> usize {
    defaults::MAX_CONNECTIONS
}
fn default_h2_streams() -> u32 {
    defaults::H2_MAX_CONCURRENT_STREAMS
}
fn default_h2_frame() -> u32 {
    defaults::H2_MAX_FRAME_SIZE
}
fn default_h2_resets() -> u32 {
    defaults::H2_MAX_PENDING_RESET_STREAMS
}
fn default_h2_ping() -> String {
    defaults::H2_KEEPALIVE_INTERVAL.to_owned()
}
fn default_h2_ping_timeout() -> String {
    defaults::H2_KEEPALIVE_TIMEOUT.to_owned()
}
fn default_admin_max_connections() -> usize {
    defaults::ADMIN_MAX_CONNECTIONS
}
fn default_unauthenticated_rate() -> f64 {
    defaults::UNAUTHENTICATED_RATE_PER_SECOND
}
fn default_unauthenticated_burst() -> u32 {
    defaults::UNAUTHENTICATED_BURST
}
