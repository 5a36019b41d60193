//! The immutable compiled runtime configuration, and the shared handle that reload swaps.
//!
//! A request loads the snapshot once and keeps it to the end, so a reload never changes
//! the rules under a request in flight.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use crate::auth::{Credentials, Issuers, KeyStore, Partner};
use crate::policy::{PermissionKind, Tier};
use crate::routes::RouteTable;
use crate::upstream::Upstream;

/// The shared, atomically swappable current snapshot.
pub type Shared = Arc<ArcSwap<Snapshot>>;

/// One validated configuration, ready to serve.
#[derive(Debug)]
pub struct Snapshot {
    /// Lower-case forbidden path prefixes.
    pub forbidden: Vec<String>,
    /// Lower-case path segments refused wherever they appear.
    pub forbidden_segments: Vec<String>,
    /// Both lists, compiled to compare by meaning.
    pub forbidden_rules: crate::normalize::Forbidden,
    /// Partner listener settings.
    pub server: ServerSettings,
    /// Admin listener settings, if configured.
    pub admin: Option<AdminSettings>,
    /// Request limits.
    pub limits: Limits,
    /// Per-tier rate settings.
    pub tiers: BTreeMap<Tier, RateSettings>,
    /// Audit settings, if configured.
    pub audit: Option<AuditSettings>,
    /// The permission registry.
    pub permissions: BTreeMap<Arc<str>, PermissionKind>,
    /// Upstreams, indexed by `Route::upstream_index`.
    pub upstreams: Vec<Arc<Upstream>>,
    /// The route allow-list.
    pub routes: RouteTable,
    /// Partners in file order.
    pub partners: Vec<Arc<Partner>>,
    /// Keys by digest.
    pub keys: KeyStore,
    /// Token issuers.
    pub issuers: Issuers,
    /// Partners by id (token partner claims are looked up here).
    pub partner_index: std::collections::HashMap<Arc<str>, Arc<Partner>, crate::model::FastHash>,
    /// Rate-limit and idempotency backend settings (applied at start).
    pub state: crate::state::StateSettings,
    /// Signer of `X-Kwanus-Identity` assertions, when `[identity]` is configured.
    pub identity: Option<Arc<crate::identity::IdentitySigner>>,
    /// SHA-256 (hex) of the configuration file's bytes.
    pub config_sha256: String,
    /// SHA-256 (hex) of the configuration and every file it references.
    pub material_sha256: String,
    /// The data classes response contracts filter.
    pub data_classes: Arc<crate::contract::DataClasses>,
    /// `[governance]`.
    pub governance: crate::governance::Settings,
    /// Each partner's governance facts (grants and their metadata, risk, review date).
    pub partner_records: Vec<crate::governance::PartnerRecord>,
    /// SHA-256 of every referenced file as it was read and compiled, by path.
    pub file_digests: BTreeMap<String, String>,
    /// The configuration's governance view (what `diff` compares).
    pub model: Arc<crate::governance::model::Model>,
    /// The configuration text it was compiled from, until the snapshot is put in force (then
    /// taken, as the approved copy when approvals are enforced; the snapshot in force holds
    /// none).
    pub source: Arc<str>,
}

/// `[server]`.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Where the partner listener binds.
    pub listen: SocketAddr,
    /// How long shutdown waits for in-flight requests.
    pub drain_timeout: Duration,
    /// How long `/readyz` fails before the listeners close on shutdown.
    pub shutdown_delay: Duration,
    /// TLS termination (certificates read at load, so a reload rotates them).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Whether partner client certificates are requested (`server.tls.client_ca`).
    pub client_auth: bool,
}

/// `[admin]`.
#[derive(Debug, Clone)]
pub struct AdminSettings {
    /// Where the admin listener binds.
    pub listen: SocketAddr,
    /// SHA-256 of the admin bearer token.
    pub token_sha256: Option<[u8; 32]>,
    /// Admin connections open at once.
    pub max_connections: usize,
}

/// `[limits]`.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request head in bytes.
    pub max_request_header_bytes: usize,
    /// Largest request body in bytes.
    pub max_request_body_bytes: u64,
    /// Time to receive a request head.
    pub client_header_timeout: Duration,
    /// Time to connect to an upstream.
    pub upstream_connect_timeout: Duration,
    /// Time for an upstream's response head.
    pub upstream_timeout: Duration,
    /// Longest pause between two pieces of a request body.
    pub client_body_timeout: Duration,
    /// Partner connections open at once.
    pub max_connections: usize,
    /// HTTP/2 streams per connection.
    pub h2_max_concurrent_streams: u32,
    /// HTTP/2 largest frame.
    pub h2_max_frame_size: u32,
    /// HTTP/2 resets tolerated before the connection is closed.
    pub h2_max_pending_reset_streams: u32,
    /// HTTP/2 keep-alive ping interval.
    pub h2_keepalive_interval: Duration,
    /// HTTP/2 keep-alive ping timeout.
    pub h2_keepalive_timeout: Duration,
    /// Requests that fail authentication (or probe a forbidden route), per client address.
    pub unauthenticated: crate::state::Rate,
}

/// Rate settings of a tier.
#[derive(Debug, Clone, Copy)]
pub struct RateSettings {
    /// Sustained requests per second.
    pub rate_per_second: Option<f64>,
    /// Burst size.
    pub burst: Option<u32>,
}

/// Whether a response waits for its audit record to be on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Group commit before the response.
    Strict,
    /// Flushed every `flush_interval`.
    Buffered,
}

/// `[audit]`.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    /// Folder of the trail.
    pub dir: std::path::PathBuf,
    /// Durability mode.
    pub durability: Durability,
    /// Flush interval in buffered mode.
    pub flush_interval: Duration,
    /// Rotation size.
    pub rotate_bytes: u64,
    /// Retention in days.
    pub retention_days: u32,
    /// Ed25519 signing key path.
    pub signing_key: Option<std::path::PathBuf>,
    /// Checkpoint every N records.
    pub checkpoint_every: u64,
    /// Checkpoint at least this often.
    pub checkpoint_interval: Duration,
    /// A second folder (another volume, a write-once mount) every signed checkpoint is also
    /// appended to.
    pub witness_dir: Option<std::path::PathBuf>,
}

// === impl Durability ===

impl Durability {
    /// `strict` or `buffered`, as in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Strict => "strict",
            Self::Buffered => "buffered",
        }
    }
}

// === impl Snapshot ===

impl Snapshot {
    /// A one-line summary, as printed by `check`.
    pub fn summary(&self) -> String {
        let audit = match &self.audit {
            Some(a) => format!(
                ", audit trail in {} ({})",
                a.dir.display(),
                a.durability.as_str()
            ),
            None => ", no audit trail".to_owned(),
        };
        format!(
            "{} partners, {} keys, {} routes, {} upstreams, {} permissions, {} forbidden prefixes{audit} (config sha256 {})",
            self.partners.len(),
            self.keys.len(),
            self.routes.len(),
            self.upstreams.len(),
            self.permissions.len(),
            self.forbidden.len(),
            &self.config_sha256[..12],
        )
    }

    /// What authentication looks credentials up in.
    pub fn credentials(&self) -> Credentials<'_> {
        Credentials {
            keys: &self.keys,
            issuers: &self.issuers,
            partners: &self.partner_index,
        }
    }

    /// Whether a normalised path has a segment anywhere that means a forbidden one.
    pub fn forbidden_segment(&self, path: &crate::normalize::NormalPath) -> bool {
        self.forbidden_rules.segment(path.as_str()).is_some()
    }

    /// The forbidden prefix a normalised path lies under, by spelling or by meaning.
    pub fn forbidden_prefix(&self, path: &crate::normalize::NormalPath) -> Option<&str> {
        self.forbidden_rules.prefix(path.as_str())
    }
}
