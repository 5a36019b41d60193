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
    records: Mutex<Records>,
    ttl: Duration,
    max_entries: usize,
    max_per_partner: usize,
    pub(super) max_body: usize,
    pub(super) health: StateHealth,
}

/// The idempotency records, and how many each partner holds.
#[derive(Default)]
struct Records {
    map: HashMap<IdemKey, Record>,
    per_partner: HashMap<String, usize>,
}

struct Record {
    partner: String,
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
            records: Mutex::new(Records::default()),
            ttl: s.idempotency_ttl,
            max_entries: s.max_entries,
            max_per_partner: s.idempotency_max_per_partner,
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

    pub(super) fn begin(&self, partner: &str, key: &IdemKey, fingerprint: &str) -> Begin {
        let Ok(mut records) = self.records.lock() else {
            return Begin::Unavailable;
        };
        let now = Instant::now();
        if let Some(r) = records.map.get(key).filter(|r| r.expires > now) {
            if r.fingerprint != fingerprint {
                return Begin::Reused;
            }
            return match &r.state {
                RecordState::InFlight => Begin::InFlight,
                RecordState::Done(Some(rsp)) => Begin::Replay(rsp.clone()),
                RecordState::Done(None) => Begin::Unreplayable,
            };
        }
        let held = records.per_partner.get(partner).copied().unwrap_or(0);
        if records.map.len() >= self.max_entries || held >= self.max_per_partner {
            records.purge(now);
            if records.per_partner.get(partner).copied().unwrap_or(0) >= self.max_per_partner {
                // One partner may not fill the store that every partner shares.
                return Begin::OverQuota {
                    max: self.max_per_partner,
                };
            }
            if records.map.len() >= self.max_entries {
                // Full of live records: refusing is safer than forgetting one.
                return Begin::Unavailable;
            }
        }
        records.put(
            key.clone(),
            Record {
                partner: partner.to_owned(),
                fingerprint: fingerprint.to_owned(),
                expires: now + self.ttl,
                state: RecordState::InFlight,
            },
        );
        Begin::Fresh
    }

    pub(super) fn complete(&self, key: &IdemKey, fingerprint: &str, rsp: Option<StoredResponse>) {
        if let Ok(mut records) = self.records.lock() {
            let partner = records
                .map
                .get(key)
                .map(|r| r.partner.clone())
                .unwrap_or_default();
            records.put(
                key.clone(),
                Record {
                    partner,
                    fingerprint: fingerprint.to_owned(),
                    expires: Instant::now() + self.ttl,
                    state: RecordState::Done(rsp),
                },
            );
        }
    }

    pub(super) fn abort(&self, partner: &str, key: &IdemKey) {
        if let Ok(mut records) = self.records.lock()
            && records
                .map
                .get(key)
                .is_some_and(|r| matches!(r.state, RecordState::InFlight))
        {
            records.map.remove(key);
            records.release(partner);
        }
    }
}

// === impl Records ===

impl Records {
    /// Inserts or replaces a record, counting it against its partner once.
    fn put(&mut self, key: IdemKey, record: Record) {
        let partner = record.partner.clone();
        match self.map.insert(key, record) {
            Some(old) if old.partner == partner => {}
            Some(old) => {
                self.release(&old.partner);
                *self.per_partner.entry(partner).or_insert(0) += 1;
            }
            None => *self.per_partner.entry(partner).or_insert(0) += 1,
        }
    }

    fn release(&mut self, partner: &str) {
        if let Some(n) = self.per_partner.get_mut(partner) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_partner.remove(partner);
            }
        }
    }

    /// Forgets expired records and counts again.
    fn purge(&mut self, now: Instant) {
        self.map.retain(|_, r| r.expires > now);
        self.per_partner.clear();
        for r in self.map.values() {
            *self.per_partner.entry(r.partner.clone()).or_insert(0) += 1;
        }
    }
}

fn limiter(rate: Rate) -> Limiter {
    RateLimiter::direct(rate.quota()).with_middleware::<StateInformationMiddleware>()
}
