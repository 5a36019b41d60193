//! Redis state, shared by replicas: rate limits by one atomic Lua GCRA script (Redis `TIME`,
//! so replicas share one clock), idempotency records by one atomic Lua script that also keeps
//! each partner's count within its quota.
//!
//! The connection is made and watched by a background task: a request never connects and
//! never waits longer than `state.timeout` for Redis. While Redis is unreachable, rate limits
//! fall back to this replica's memory (each replica then allows the full rate), idempotent
//! requests are refused (`503 state_unavailable`), and every failure is counted by operation.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;
use redis::aio::ConnectionManager;

use super::{
    Begin, IdemKey, Op, Rate, RateDecision, StateHealth, StateSettings, StoredResponse,
    memory::MemoryState,
};

/// How long the background task waits for a connection or a `PING`.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// How often the background task checks the connection.
const PROBE_EVERY: Duration = Duration::from_millis(500);

/// GCRA: KEYS[1] the partner's key; ARGV[1] emission interval (µs), ARGV[2] burst.
/// Returns {allowed, retry_after_us, remaining, reset_us}.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local limit = interval * burst
if new_tat - now > limit then
  return {0, new_tat - now - limit, 0, tat - now}
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, 0, math.floor((limit - (new_tat - now)) / interval), new_tat - now}
";

/// Begins an idempotent request: KEYS[1] the record, KEYS[2] the partner's set of records
/// (scored by expiry); ARGV[1] the in-flight marker, ARGV[2] the TTL (ms), ARGV[3] the
/// partner's quota. Returns {1, ''} fresh, {0, value} already there, {2, ''} over quota.
const BEGIN: &str = r"
local value = redis.call('GET', KEYS[1])
if value then return {0, value} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return {2, ''} end
local ttl = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
redis.call('ZADD', KEYS[2], now + ttl, KEYS[1])
redis.call('PEXPIRE', KEYS[2], ttl)
return {1, ''}
";

/// Deletes an in-flight marker only if it is still ours, and frees its quota slot.
const ABORT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('ZREM', KEYS[2], KEYS[1])
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// The fleet's misuse suspensions, one hash (partner -> Unix ms it lifts): KEYS[1] the hash;
/// ARGV[1] how many (partner, until) pairs follow, then the pairs, then partners to lift.
/// A pair never shortens a suspension already there. Returns the suspensions still running
/// (by Redis `TIME`), as a flat list of partner, until; those over are deleted.
const SUSPENSIONS: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = tonumber(ARGV[1])
for i = 0, n - 1 do
  local p, u = ARGV[2 + 2 * i], tonumber(ARGV[3 + 2 * i])
  if u > tonumber(redis.call('HGET', KEYS[1], p) or 0) then redis.call('HSET', KEYS[1], p, u) end
end
for i = 2 + 2 * n, #ARGV do redis.call('HDEL', KEYS[1], ARGV[i]) end
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  if tonumber(all[i + 1]) <= now then
    redis.call('HDEL', KEYS[1], all[i])
  else
    out[#out + 1] = all[i]
    out[#out + 1] = all[i + 1]
  end
end
return out
";

/// Redis state.
pub struct RedisState {
    client: redis::Client,
    conn: ArcSwapOption<ConnectionManager>,
    reachable: AtomicBool,
    /// Unix seconds of the last change of `reachable` (start-up, before the first connect).
    since: AtomicU64,
    gcra: redis::Script,
    begin: redis::Script,
    abort: redis::Script,
    suspensions: redis::Script,
    ttl: Duration,
    timeout: Duration,
    max_per_partner: usize,
    /// Rate limits while Redis is unreachable.
    fallback: MemoryState,
    pub(super) max_body: usize,
    pub(super) health: StateHealth,
}

// === impl RedisState ===

impl RedisState {
    pub(super) fn new(url: &str, s: &StateSettings) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| e.to_string())?;
        Ok(Self {
            client,
            conn: ArcSwapOption::empty(),
            reachable: AtomicBool::new(false),
            // Unreachable from the start until the background task has connected.
            since: AtomicU64::new(unix_now()),
            gcra: redis::Script::new(GCRA),
            begin: redis::Script::new(BEGIN),
            abort: redis::Script::new(ABORT),
            suspensions: redis::Script::new(SUSPENSIONS),
            ttl: s.idempotency_ttl,
            timeout: s.timeout,
            max_per_partner: s.idempotency_max_per_partner,
            fallback: MemoryState::new(s),
            max_body: s.idempotency_max_body,
            health: StateHealth::default(),
        })
    }

    /// Whether Redis answered the last call or probe, and since when (Unix seconds).
    pub(super) fn reachable(&self) -> (bool, u64) {
        (
            self.reachable.load(Ordering::Relaxed),
            self.since.load(Ordering::Relaxed),
        )
    }

    /// Connects, then probes every `PROBE_EVERY`, for as long as the state lives.
    pub(super) async fn watch(this: Weak<super::State>) {
        loop {
            let Some(state) = this.upgrade() else { return };
            let super::State::Redis(r) = state.as_ref() else {
                return;
            };
            r.probe().await;
            drop(state);
            tokio::time::sleep(PROBE_EVERY).await;
        }
    }

    async fn probe(&self) {
        let conn = self.conn.load_full();
        let Some(conn) = conn else {
            let config = redis::aio::ConnectionManagerConfig::new()
                .set_connection_timeout(Some(PROBE_TIMEOUT))
                .set_response_timeout(Some(PROBE_TIMEOUT))
                .set_number_of_retries(1);
            let made = tokio::time::timeout(
                PROBE_TIMEOUT * 2,
                ConnectionManager::new_with_config(self.client.clone(), config),
            )
            .await;
            match made {
                Ok(Ok(c)) => {
                    self.conn.store(Some(Arc::new(c)));
                    self.set_reachable(true);
                }
                _ => {
                    self.health.error(Op::Connect);
                    self.set_reachable(false);
                }
            }
            return;
        };
        let mut c = (*conn).clone();
        let ping = redis::cmd("PING");
        match tokio::time::timeout(PROBE_TIMEOUT, ping.query_async::<String>(&mut c)).await {
            Ok(Ok(_)) => self.set_reachable(true),
            _ => {
                self.health.error(Op::Connect);
                self.set_reachable(false);
            }
        }
    }

    fn set_reachable(&self, now: bool) {
        if self.reachable.swap(now, Ordering::Relaxed) != now {
            self.since.store(unix_now(), Ordering::Relaxed);
            if now {
                tracing::info!("state backend: Redis reachable");
            } else {
                tracing::error!(
                    "state backend: Redis unreachable; rate limits per replica, idempotent requests refused"
                );
            }
        }
    }

    /// The connection, only while Redis is reachable: a request never connects itself.
    fn conn(&self) -> Option<ConnectionManager> {
        if !self.reachable.load(Ordering::Relaxed) {
            return None;
        }
        self.conn.load_full().map(|c| (*c).clone())
    }

    /// Runs one call within `state.timeout`; a failure marks Redis unreachable until the
    /// background probe sees it answer again.
    async fn call<T>(
        &self,
        op: Op,
        f: impl AsyncFnOnce(ConnectionManager) -> redis::RedisResult<T>,
    ) -> Option<T> {
        let Some(conn) = self.conn() else {
            self.health.error(op);
            return None;
        };
        match tokio::time::timeout(self.timeout, f(conn)).await {
            Ok(Ok(v)) => Some(v),
            Ok(Err(_)) | Err(_) => {
                self.health.error(op);
                self.set_reachable(false);
                None
            }
        }
    }

    pub(super) async fn rate_check(&self, partner: &str, rate: Rate) -> RateDecision {
        let interval_us = (1_000_000.0 / rate.per_second.max(1e-6)).round() as i64;
        let mut invocation = self.gcra.key(format!("kwanus:rl:{partner}"));
        invocation.arg(interval_us).arg(rate.burst);
        let answer = self
            .call(Op::Rate, async |mut c| {
                invocation
                    .invoke_async::<(i64, i64, i64, i64)>(&mut c)
                    .await
            })
            .await;
        match answer {
            Some((1, _, remaining, reset_us)) => RateDecision::Allowed {
                remaining: u32::try_from(remaining).unwrap_or(0),
                reset_secs: (reset_us.max(0) as u64).div_ceil(1_000_000),
            },
            Some((_, retry_us, _, _)) => RateDecision::Limited {
                retry_after_secs: (retry_us.max(0) as u64).div_ceil(1_000_000).max(1),
            },
            None => {
                self.health.rate_fallback.fetch_add(1, Ordering::Relaxed);
                self.fallback.rate_check(partner, rate)
            }
        }
    }

    pub(super) async fn begin(&self, partner: &str, key: &IdemKey, fingerprint: &str) -> Begin {
        let ttl_ms = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
        let mut invocation = self.begin.key(&key.0);
        invocation
            .key(quota_key(partner))
            .arg(format!("I:{fingerprint}"))
            .arg(ttl_ms)
            .arg(self.max_per_partner);
        let answer = self
            .call(Op::Begin, async |mut c| {
                invocation.invoke_async::<(i64, String)>(&mut c).await
            })
            .await;
        match answer {
            Some((1, _)) => Begin::Fresh,
            Some((2, _)) => Begin::OverQuota {
                max: self.max_per_partner,
            },
            Some((_, value)) => classify(&value, fingerprint),
            None => Begin::Unavailable,
        }
    }

    pub(super) async fn complete(
        &self,
        key: &IdemKey,
        fingerprint: &str,
        rsp: Option<StoredResponse>,
    ) {
        let stored = rsp
            .and_then(|r| serde_json::to_string(&r).ok())
            .unwrap_or_default();
        let ttl_ms = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
        let mut set = redis::cmd("SET");
        set.arg(&key.0)
            .arg(format!("D:{fingerprint}:{stored}"))
            .arg("PX")
            .arg(ttl_ms);
        let done = self
            .call(Op::Complete, async |mut c| {
                set.query_async::<()>(&mut c).await
            })
            .await;
        if done.is_none() {
            tracing::warn!("idempotency: could not store a response; a retry will run again");
        }
    }

    pub(super) async fn abort(&self, partner: &str, key: &IdemKey, fingerprint: &str) {
        let mut invocation = self.abort.key(&key.0);
        invocation
            .key(quota_key(partner))
            .arg(format!("I:{fingerprint}"));
        let _ = self
            .call(Op::Abort, async |mut c| {
                invocation.invoke_async::<i64>(&mut c).await
            })
            .await;
    }
}

impl RedisState {
    /// Publishes `suspended` (partner, Unix ms it lifts) and `lifted`, and returns the
    /// fleet's running suspensions; `None` while Redis does not answer.
    pub(super) async fn sync_suspensions(
        &self,
        suspended: &[(String, u64)],
        lifted: &[String],
    ) -> Option<Vec<(String, u64)>> {
        let mut invocation = self.suspensions.key("kwanus:suspensions");
        invocation.arg(suspended.len());
        for (partner, until) in suspended {
            invocation.arg(partner).arg(*until);
        }
        for partner in lifted {
            invocation.arg(partner);
        }
        self.call(Op::Suspensions, async |mut c| {
            invocation.invoke_async::<Vec<(String, u64)>>(&mut c).await
        })
        .await
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The sorted set of one partner's idempotency records (their quota).
fn quota_key(partner: &str) -> String {
    format!("kwanus:idem-quota:{partner}")
}

/// What a stored value says about a request with `fingerprint`.
fn classify(value: &str, fingerprint: &str) -> Begin {
    if let Some(fp) = value.strip_prefix("I:") {
        return if fp == fingerprint {
            Begin::InFlight
        } else {
            Begin::Reused
        };
    }
    let Some(rest) = value.strip_prefix("D:") else {
        return Begin::Unavailable;
    };
    let (fp, stored) = rest.split_once(':').unwrap_or((rest, ""));
    if fp != fingerprint {
        return Begin::Reused;
    }
    if stored.is_empty() {
        return Begin::Unreplayable;
    }
    serde_json::from_str(stored).map_or(Begin::Unavailable, Begin::Replay)
}
