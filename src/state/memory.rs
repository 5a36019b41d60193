//! One node's state: governor GCRA limiters per partner, and a bounded idempotency map with
//! expiry.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use dashmap::DashMap;
use governor::RateLimiter;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use tokio::time::Instant;

use super::{Begin, IdemKey, Rate, RateDecision, StateHealth, StateSettings, StoredResponse};

type Limiter = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;

/// In-memory state.
pub struct MemoryState {
    /// One limiter per (partner, rate): partners come from the configuration, so this is bounded.
    limiters: DashMap<(String, u64, u32), Limiter>,
    // Held only for a lookup or an insert, never across an await.
    records: Mutex<HashMap<IdemKey, Record>>,
    ttl: Duration,
    max_entries: usize,
    pub(super) max_body: usize,
    pub(super) health: StateHealth,
}

struct Record {
    fingerprint: String,
    expires: Instant,
    state: RecordState,
}

enum RecordState {
    InFlight,
    Done(Option<StoredResponse>),
}

// === impl MemoryState ===

impl MemoryState {
    pub(super) fn new(s: &StateSettings) -> Self {
        Self {
            limiters: DashMap::new(),
            records: Mutex::new(HashMap::new()),
            ttl: s.idempotency_ttl,
            max_entries: s.max_entries,
            max_body: s.idempotency_max_body,
            health: StateHealth::default(),
        }
    }

    pub(super) fn rate_check(&self, partner: &str, rate: Rate) -> RateDecision {
        let key = (partner.to_owned(), rate.per_second.to_bits(), rate.burst);
        let limiter = self.limiters.entry(key).or_insert_with(|| limiter(rate));
        match limiter.check() {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let missing = f64::from(rate.burst.saturating_sub(remaining));
                RateDecision::Allowed {
                    remaining,
                    reset_secs: (missing / rate.per_second).ceil() as u64,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                RateDecision::Limited {
                    retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
                }
            }
        }
    }

    pub(super) fn begin(&self, key: &IdemKey, fingerprint: &str) -> Begin {
        let Ok(mut records) = self.records.lock() else {
            return Begin::Unavailable;
        };
        let now = Instant::now();
        if let Some(r) = records.get(key).filter(|r| r.expires > now) {
            if r.fingerprint != fingerprint {
                return Begin::Reused;
            }
            return match &r.state {
                RecordState::InFlight => Begin::InFlight,
                RecordState::Done(Some(rsp)) => Begin::Replay(rsp.clone()),
                RecordState::Done(None) => Begin::Unreplayable,
            };
        }
        if records.len() >= self.max_entries {
            records.retain(|_, r| r.expires > now);
            if records.len() >= self.max_entries {
                // Full of live records: refusing is safer than forgetting one.
                return Begin::Unavailable;
            }
        }
        records.insert(
            key.clone(),
            Record {
                fingerprint: fingerprint.to_owned(),
                expires: now + self.ttl,
                state: RecordState::InFlight,
            },
        );
        Begin::Fresh
    }

    pub(super) fn complete(&self, key: &IdemKey, fingerprint: &str, rsp: Option<StoredResponse>) {
        if let Ok(mut records) = self.records.lock() {
            records.insert(
                key.clone(),
                Record {
                    fingerprint: fingerprint.to_owned(),
                    expires: Instant::now() + self.ttl,
                    state: RecordState::Done(rsp),
                },
            );
        }
    }

    pub(super) fn abort(&self, key: &IdemKey) {
        if let Ok(mut records) = self.records.lock()
            && records
                .get(key)
                .is_some_and(|r| matches!(r.state, RecordState::InFlight))
        {
            records.remove(key);
        }
    }
}

fn limiter(rate: Rate) -> Limiter {
    RateLimiter::direct(rate.quota()).with_middleware::<StateInformationMiddleware>()
}
