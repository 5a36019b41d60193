//! Shared request state: per-partner rate limits (GCRA) and idempotency records, in memory on
//! one node or in Redis across replicas.
//!
//! When Redis is unreachable, rate limits fall back to each replica's memory (counted and
//! logged); idempotent routes fail closed (503), because starting a workflow twice is worse
//! than refusing once. Every backend failure is counted by operation.

mod memory;
mod redis;
pub mod unauthenticated;

pub use crate::model::Rate;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a rate check decided.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RateDecision {
    /// Allowed, with what is left of the burst and when it is full again.
    Allowed {
        /// Requests that may still be sent at once.
        remaining: u32,
        /// Seconds until the burst is full again.
        reset_secs: u64,
    },
    /// Limited; retry after this many seconds (at least 1).
    Limited {
        /// `Retry-After`.
        retry_after_secs: u64,
    },
}

/// Where an idempotency record lives: (partner, route, key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdemKey(pub String);

/// A stored response to replay.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoredResponse {
    /// Status code.
    pub status: u16,
    /// Chosen headers (content type and the like).
    pub headers: Vec<(String, String)>,
    /// Body (base64 in Redis).
    #[serde(with = "b64")]
    pub body: Vec<u8>,
}

/// What beginning an idempotent request found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// First of its key: forward it, then `complete` or `abort`.
    Fresh,
    /// Done before with the same fingerprint: replay this.
    Replay(StoredResponse),
    /// Done before, but its response was too large to keep.
    Unreplayable,
    /// The first request with this key is still in flight.
    InFlight,
    /// The key was used for a different request.
    Reused,
    /// The partner holds `max` idempotency records already (`idempotency_max_per_partner`).
    OverQuota {
        /// The quota.
        max: usize,
    },
    /// The backend could not answer (fail closed).
    Unavailable,
}

/// A backend operation, as counted in `kwanus_gateway_state_errors_total{op}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Connecting, or the background probe.
    Connect,
    /// A rate check.
    Rate,
    /// Beginning an idempotent request.
    Begin,
    /// Storing its response.
    Complete,
    /// Releasing its key.
    Abort,
    /// Carrying misuse suspensions between replicas.
    Suspensions,
}

/// Counters for ops.
#[derive(Debug, Default)]
pub struct StateHealth {
    /// Rate checks answered by this replica's memory because the backend failed.
    pub rate_fallback: AtomicU64,
    /// Idempotent requests refused because the backend failed.
    pub idempotency_unavailable: AtomicU64,
    /// Failures by operation, in `Op::ALL` order.
    errors: [AtomicU64; Op::ALL.len()],
}

// === impl Op ===

impl Op {
    /// Every operation.
    pub const ALL: [Op; 6] = [
        Op::Connect,
        Op::Rate,
        Op::Begin,
        Op::Complete,
        Op::Abort,
        Op::Suspensions,
    ];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Rate => "rate",
            Self::Begin => "begin",
            Self::Complete => "complete",
            Self::Abort => "abort",
            Self::Suspensions => "suspensions",
        }
    }
}

// === impl StateHealth ===

impl StateHealth {
    /// Counts one failed operation.
    pub fn error(&self, op: Op) {
        self.errors[op as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Failures of `op` so far.
    pub fn errors(&self, op: Op) -> u64 {
        self.errors[op as usize].load(Ordering::Relaxed)
    }
}

/// The backend's condition, for `/admin/status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StateStatus {
    /// `memory` or `redis`.
    pub backend: &'static str,
    /// Whether the backend answers.
    pub reachable: bool,
    /// Since when (RFC 3339), for Redis once it was tried.
    pub since: Option<String>,
    /// Rate checks answered from this replica's memory because Redis failed.
    pub rate_fallback: u64,
    /// Idempotent requests refused because Redis failed.
    pub idempotency_unavailable: u64,
    /// Failures by operation.
    pub errors: std::collections::BTreeMap<&'static str, u64>,
}

/// The configured backend.
pub enum State {
    /// One node.
    Memory(Box<memory::MemoryState>),
    /// Shared by replicas.
    Redis(Box<redis::RedisState>),
}

/// How to build the state.
#[derive(Debug, Clone)]
pub struct StateSettings {
    /// `memory` or Redis at this URL.
    pub redis_url: Option<String>,
    /// How long idempotency records live.
    pub idempotency_ttl: Duration,
    /// Largest response body kept for replay.
    pub idempotency_max_body: usize,
    /// Idempotency records one partner may hold at once.
    pub idempotency_max_per_partner: usize,
    /// Most idempotency records kept in memory.
    pub max_entries: usize,
    /// Longest a request waits for Redis.
    pub timeout: Duration,
}

// === impl State ===

impl State {
    /// Builds the backend. Redis is connected, watched and reconnected by a background task
    /// (so this must run inside a Tokio runtime); no request ever waits for a connection.
    pub fn new(settings: &StateSettings) -> Result<Arc<Self>, String> {
        let state = Arc::new(match &settings.redis_url {
            Some(url) => Self::Redis(Box::new(redis::RedisState::new(url, settings)?)),
            None => Self::Memory(Box::new(memory::MemoryState::new(settings))),
        });
        if matches!(*state, Self::Redis(_)) {
            tokio::spawn(redis::RedisState::watch(Arc::downgrade(&state)));
        }
        Ok(state)
    }

    /// `memory` or `redis`.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Memory(_) => "memory",
            Self::Redis(_) => "redis",
        }
    }

    /// The backend's condition and counters.
    pub fn status(&self) -> StateStatus {
        let (reachable, since) = match self {
            Self::Memory(_) => (true, None),
            Self::Redis(r) => {
                let (reachable, since) = r.reachable();
                let since = (since > 0).then(|| {
                    humantime::format_rfc3339_seconds(
                        std::time::UNIX_EPOCH + Duration::from_secs(since),
                    )
                    .to_string()
                });
                (reachable, since)
            }
        };
        let h = self.health();
        StateStatus {
            backend: self.backend(),
            reachable,
            since,
            rate_fallback: h.rate_fallback.load(Ordering::Relaxed),
            idempotency_unavailable: h.idempotency_unavailable.load(Ordering::Relaxed),
            errors: Op::ALL
                .iter()
                .map(|op| (op.as_str(), h.errors(*op)))
                .collect(),
        }
    }

    /// Health counters.
    pub fn health(&self) -> &StateHealth {
        match self {
            Self::Memory(m) => &m.health,
            Self::Redis(r) => &r.health,
        }
    }

    /// Checks and, when allowed, consumes one request of `partner`'s budget.
    pub async fn rate_check(&self, partner: &str, rate: Rate) -> RateDecision {
        match self {
            Self::Memory(m) => m.rate_check(partner, rate),
            Self::Redis(r) => r.rate_check(partner, rate).await,
        }
    }

    /// Starts an idempotent request of `partner`.
    pub async fn begin(&self, partner: &str, key: &IdemKey, fingerprint: &str) -> Begin {
        let begin = match self {
            Self::Memory(m) => m.begin(partner, key, fingerprint),
            Self::Redis(r) => r.begin(partner, key, fingerprint).await,
        };
        if begin == Begin::Unavailable {
            let n = self
                .health()
                .idempotency_unavailable
                .fetch_add(1, Ordering::Relaxed);
            if n.is_multiple_of(1000) {
                tracing::error!(
                    refused = n + 1,
                    "idempotency backend unreachable; refusing idempotent requests (fail closed)"
                );
            }
        }
        begin
    }

    /// Stores the response of a fresh request (`None`: too large to keep).
    pub async fn complete(
        &self,
        key: &IdemKey,
        fingerprint: &str,
        response: Option<StoredResponse>,
    ) {
        match self {
            Self::Memory(m) => m.complete(key, fingerprint, response),
            Self::Redis(r) => r.complete(key, fingerprint, response).await,
        }
    }

    /// Forgets a fresh request that failed (upstream 5xx, timeout, client gone), so a retry
    /// can run it again.
    pub async fn abort(&self, partner: &str, key: &IdemKey, fingerprint: &str) {
        match self {
            Self::Memory(m) => m.abort(partner, key),
            Self::Redis(r) => r.abort(partner, key, fingerprint).await,
        }
    }

    /// Publishes this replica's new suspensions (partner, Unix ms it lifts) and operator
    /// lifts, and returns the fleet's running suspensions. `None` with the memory backend
    /// (one replica is the fleet) or while Redis does not answer.
    pub async fn sync_suspensions(
        &self,
        suspended: &[(String, u64)],
        lifted: &[String],
    ) -> Option<Vec<(String, u64)>> {
        match self {
            Self::Memory(_) => None,
            Self::Redis(r) => r.sync_suspensions(suspended, lifted).await,
        }
    }

    /// Largest body kept for replay.
    pub fn max_body(&self) -> usize {
        match self {
            Self::Memory(m) => m.max_body,
            Self::Redis(r) => r.max_body,
        }
    }
}

/// The fingerprint of a request: method, target and body SHA-256.
pub fn fingerprint(method: &str, target: &str, body: &[u8]) -> String {
    let body_hash = hex::encode(crate::digest::digest(body));
    hex::encode(crate::digest::digest(
        format!("{method}\n{target}\n{body_hash}").as_bytes(),
    ))
}

/// The response headers kept with a stored response.
pub const STORED_HEADERS: [&str; 5] = [
    "content-type",
    "content-language",
    "location",
    "etag",
    "cache-control",
];

mod b64 {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(serde::de::Error::custom)
    }
}
