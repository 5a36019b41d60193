//! Shared request state: per-partner rate limits (GCRA) and idempotency records, in memory on
//! one node or in Redis across replicas.
//!
//! Rate limits fail open when the backend is unreachable (counted and logged); idempotent
//! routes fail closed (503), because starting a workflow twice is worse than refusing once.

mod memory;
mod redis;
pub mod unauthenticated;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A partner's rate: sustained requests per second and burst.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Requests per second.
    pub per_second: f64,
    /// Requests allowed at once.
    pub burst: u32,
}

// === impl Rate ===

impl Rate {
    /// The GCRA quota: one request every `1 / per_second`, `burst` at once.
    pub(crate) fn quota(self) -> governor::Quota {
        let period = Duration::from_secs_f64(1.0 / self.per_second.max(1e-6));
        let burst = std::num::NonZeroU32::new(self.burst).unwrap_or(std::num::NonZeroU32::MIN);
        governor::Quota::with_period(period)
            .unwrap_or_else(|| governor::Quota::per_second(std::num::NonZeroU32::MIN))
            .allow_burst(burst)
    }
}

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
    /// The backend could not answer; allowed (fail open).
    FailedOpen,
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
    /// The backend could not answer (fail closed).
    Unavailable,
}

/// Counters for ops.
#[derive(Debug, Default)]
pub struct StateHealth {
    /// Rate checks allowed because the backend failed.
    pub rate_fail_open: AtomicU64,
    /// Idempotent requests refused because the backend failed.
    pub idempotency_unavailable: AtomicU64,
}

/// The configured backend.
pub enum State {
    /// One node.
    Memory(memory::MemoryState),
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
    /// Most idempotency records kept in memory.
    pub max_entries: usize,
}

// === impl State ===

impl State {
    /// Builds the backend (Redis connects lazily and reconnects by itself).
    pub fn new(settings: &StateSettings) -> Result<Arc<Self>, String> {
        Ok(Arc::new(match &settings.redis_url {
            Some(url) => Self::Redis(Box::new(redis::RedisState::new(url, settings)?)),
            None => Self::Memory(memory::MemoryState::new(settings)),
        }))
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
        let decision = match self {
            Self::Memory(m) => m.rate_check(partner, rate),
            Self::Redis(r) => r.rate_check(partner, rate).await,
        };
        if decision == RateDecision::FailedOpen {
            let n = self.health().rate_fail_open.fetch_add(1, Ordering::Relaxed);
            if n.is_multiple_of(1000) {
                tracing::warn!(
                    failed_open = n + 1,
                    "rate-limit backend unreachable; allowing (fail open)"
                );
            }
        }
        decision
    }

    /// Starts an idempotent request.
    pub async fn begin(&self, key: &IdemKey, fingerprint: &str) -> Begin {
        let begin = match self {
            Self::Memory(m) => m.begin(key, fingerprint),
            Self::Redis(r) => r.begin(key, fingerprint).await,
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
    pub async fn abort(&self, key: &IdemKey, fingerprint: &str) {
        match self {
            Self::Memory(m) => m.abort(key),
            Self::Redis(r) => r.abort(key, fingerprint).await,
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
    let body_hash = hex::encode(crate::auth::digest(body));
    hex::encode(crate::auth::digest(
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
