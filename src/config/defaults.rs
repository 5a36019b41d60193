//! Every default of the configuration file, in one place: the serde defaults of `file` and the
//! fallbacks of `validate` read these, and the README's configuration reference lists them.

/// `forbidden`.
pub(crate) const FORBIDDEN: [&str; 2] = ["/internal", "/db"];

/// `forbidden_segments`.
pub(crate) const FORBIDDEN_SEGMENTS: [&str; 2] = ["internal", "db"];
/// `server.require_versioned_routes`.
pub(crate) const REQUIRE_VERSIONED_ROUTES: bool = true;
/// Upstream ports of well-known databases (PostgreSQL, MySQL, MS SQL, Oracle, Redis, MongoDB,
/// Elasticsearch, Cassandra, CouchDB, InfluxDB, Memcached, etcd, Neo4j, CockroachDB): refused
/// unless the upstream says `allow_database_port = true` with a justification.
pub(crate) const DATABASE_PORTS: [u16; 16] = [
    5432, 3306, 1433, 1521, 6379, 27017, 9200, 9300, 9042, 5984, 8086, 11211, 2379, 7687, 26257,
    7474,
];

/// `server.listen`.
pub(crate) const LISTEN: &str = "0.0.0.0:8080";
/// `server.drain_timeout`.
pub(crate) const DRAIN_TIMEOUT: &str = "30s";
/// `server.shutdown_delay`.
pub(crate) const SHUTDOWN_DELAY: &str = "0s";

/// `admin.max_connections`.
pub(crate) const ADMIN_MAX_CONNECTIONS: usize = 64;

/// `limits.max_request_header_bytes`.
pub(crate) const MAX_REQUEST_HEADER_BYTES: u64 = 16 * 1024;
/// `limits.max_request_body_bytes`.
pub(crate) const MAX_REQUEST_BODY_BYTES: u64 = 10 * 1024 * 1024;
/// `limits.client_header_timeout`.
pub(crate) const CLIENT_HEADER_TIMEOUT: &str = "10s";
/// `limits.upstream_connect_timeout`.
pub(crate) const UPSTREAM_CONNECT_TIMEOUT: &str = "2s";
/// `limits.upstream_timeout`.
pub(crate) const UPSTREAM_TIMEOUT: &str = "30s";
/// `limits.client_body_timeout`.
pub(crate) const CLIENT_BODY_TIMEOUT: &str = "30s";
/// `limits.max_connections`.
pub(crate) const MAX_CONNECTIONS: usize = 10_000;
/// `limits.h2_max_concurrent_streams`.
pub(crate) const H2_MAX_CONCURRENT_STREAMS: u32 = 100;
/// `limits.h2_max_frame_size`.
pub(crate) const H2_MAX_FRAME_SIZE: u32 = 16 * 1024;
/// `limits.h2_max_pending_reset_streams`.
pub(crate) const H2_MAX_PENDING_RESET_STREAMS: u32 = 20;
/// `limits.h2_keepalive_interval`.
pub(crate) const H2_KEEPALIVE_INTERVAL: &str = "20s";
/// `limits.h2_keepalive_timeout`.
pub(crate) const H2_KEEPALIVE_TIMEOUT: &str = "10s";
/// `limits.unauthenticated_rate_per_second`.
pub(crate) const UNAUTHENTICATED_RATE_PER_SECOND: f64 = 50.0;
/// `limits.unauthenticated_burst`.
pub(crate) const UNAUTHENTICATED_BURST: u32 = 100;

/// `audit.durability`.
pub(crate) const AUDIT_DURABILITY: &str = "strict";
/// `audit.flush_interval`.
pub(crate) const AUDIT_FLUSH_INTERVAL: &str = "100ms";
/// `audit.rotate_bytes`.
pub(crate) const AUDIT_ROTATE_BYTES: u64 = 100 * 1024 * 1024;
/// `audit.retention_days`.
pub(crate) const AUDIT_RETENTION_DAYS: u32 = 400;
/// `audit.checkpoint_every`.
pub(crate) const AUDIT_CHECKPOINT_EVERY: u64 = 1000;
/// `audit.checkpoint_interval`.
pub(crate) const AUDIT_CHECKPOINT_INTERVAL: &str = "10s";

/// `routes[].idempotency`: `required` on a route whose permission is of kind `workflow`
/// (a retried trigger must not run twice), `none` elsewhere.
pub(crate) fn route_idempotency(workflow: bool) -> &'static str {
    if workflow { "required" } else { "none" }
}
/// `routes[].request_max_bytes` on a route with a `request_schema` (elsewhere the default is
/// `limits.max_request_body_bytes`).
pub(crate) const ROUTE_REQUEST_MAX_BYTES: u64 = 1024 * 1024;
/// `routes[].request_max_values`.
pub(crate) const ROUTE_REQUEST_MAX_VALUES: u64 = 100_000;
/// The largest `routes[].request_max_values` accepted.
pub(crate) const ROUTE_REQUEST_MAX_VALUES_CEILING: u64 = 10_000_000;

/// `auth.jwt[].partner_claim`.
pub(crate) const JWT_PARTNER_CLAIM: &str = "sub";

/// `identity.ttl`.
pub(crate) const IDENTITY_TTL: &str = "60s";
/// `identity.issuer`.
pub(crate) const IDENTITY_ISSUER: &str = "kwanus-gateway";

/// `state.backend`.
pub(crate) const STATE_BACKEND: &str = "memory";
/// `state.idempotency_ttl`.
pub(crate) const STATE_IDEMPOTENCY_TTL: std::time::Duration =
    std::time::Duration::from_secs(24 * 3600);
/// `state.idempotency_max_body_bytes`.
pub(crate) const STATE_IDEMPOTENCY_MAX_BODY_BYTES: usize = 64 * 1024;
/// `state.idempotency_max_per_partner`.
pub(crate) const STATE_IDEMPOTENCY_MAX_PER_PARTNER: usize = 10_000;
/// `state.max_entries`.
pub(crate) const STATE_MAX_ENTRIES: usize = 100_000;
/// `state.timeout`.
pub(crate) const STATE_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(50);

/// `routes.response.content_types`.
pub(crate) const RESPONSE_CONTENT_TYPES: &[&str] = &["application/json"];
/// `routes.response.max_bytes`.
pub(crate) const RESPONSE_MAX_BYTES: u64 = 1024 * 1024;
/// The largest `routes.response.max_bytes` accepted (each response is held whole).
pub(crate) const RESPONSE_MAX_BYTES_CEILING: u64 = 64 * 1024 * 1024;
/// `routes.response.on_violation`.
pub(crate) const RESPONSE_ON_VIOLATION: &str = "strip";
