//! Redis state, shared by replicas: rate limits by one atomic Lua GCRA script (Redis `TIME`,
//! so replicas share one clock), idempotency by `SET NX PX` records.

use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::OnceCell;

use super::{Begin, IdemKey, Rate, RateDecision, StateHealth, StateSettings, StoredResponse};

/// Longest a Redis call may take before the request goes on without it.
const CALL_TIMEOUT: Duration = Duration::from_millis(500);

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

/// Deletes an in-flight marker only if it is still ours.
const ABORT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// Redis state.
pub struct RedisState {
    client: redis::Client,
    conn: OnceCell<ConnectionManager>,
    gcra: redis::Script,
    abort: redis::Script,
    ttl: Duration,
    pub(super) max_body: usize,
    pub(super) health: StateHealth,
}

// === impl RedisState ===

impl RedisState {
    pub(super) fn new(url: &str, s: &StateSettings) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| e.to_string())?;
        Ok(Self {
            client,
            conn: OnceCell::new(),
            gcra: redis::Script::new(GCRA),
            abort: redis::Script::new(ABORT),
            ttl: s.idempotency_ttl,
            max_body: s.idempotency_max_body,
            health: StateHealth::default(),
        })
    }

    /// The pooled, self-reconnecting connection (made on first use).
    async fn conn(&self) -> Option<ConnectionManager> {
        let made = self
            .conn
            .get_or_try_init(|| async {
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(CALL_TIMEOUT))
                    .set_response_timeout(Some(CALL_TIMEOUT))
                    .set_number_of_retries(1);
                tokio::time::timeout(
                    CALL_TIMEOUT * 2,
                    ConnectionManager::new_with_config(self.client.clone(), config),
                )
                .await
                .map_err(|_| ())?
                .map_err(|_| ())
            })
            .await;
        made.ok().cloned()
    }

    pub(super) async fn rate_check(&self, partner: &str, rate: Rate) -> RateDecision {
        let Some(mut conn) = self.conn().await else {
            return RateDecision::FailedOpen;
        };
        let interval_us = (1_000_000.0 / rate.per_second.max(1e-6)).round() as i64;
        let mut invocation = self.gcra.key(format!("kwanus:rl:{partner}"));
        invocation.arg(interval_us).arg(rate.burst);
        let call = invocation.invoke_async::<(i64, i64, i64, i64)>(&mut conn);
        match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(Ok((1, _, remaining, reset_us))) => RateDecision::Allowed {
                remaining: u32::try_from(remaining).unwrap_or(0),
                reset_secs: (reset_us.max(0) as u64).div_ceil(1_000_000),
            },
            Ok(Ok((_, retry_us, _, _))) => RateDecision::Limited {
                retry_after_secs: (retry_us.max(0) as u64).div_ceil(1_000_000).max(1),
            },
            Ok(Err(_)) | Err(_) => RateDecision::FailedOpen,
        }
    }

    pub(super) async fn begin(&self, key: &IdemKey, fingerprint: &str) -> Begin {
        let Some(mut conn) = self.conn().await else {
            return Begin::Unavailable;
        };
        let marker = format!("I:{fingerprint}");
        let ttl_ms = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
        for _ in 0..2 {
            let mut set = redis::cmd("SET");
            set.arg(&key.0).arg(&marker).arg("NX").arg("PX").arg(ttl_ms);
            match tokio::time::timeout(CALL_TIMEOUT, set.query_async::<Option<String>>(&mut conn))
                .await
            {
                Ok(Ok(Some(_))) => return Begin::Fresh,
                Ok(Ok(None)) => {}
                Ok(Err(_)) | Err(_) => return Begin::Unavailable,
            }
            let mut get = redis::cmd("GET");
            get.arg(&key.0);
            let value = match tokio::time::timeout(
                CALL_TIMEOUT,
                get.query_async::<Option<String>>(&mut conn),
            )
            .await
            {
                Ok(Ok(Some(v))) => v,
                // Expired between SET and GET: try to take it again.
                Ok(Ok(None)) => continue,
                Ok(Err(_)) | Err(_) => return Begin::Unavailable,
            };
            return classify(&value, fingerprint);
        }
        Begin::Unavailable
    }

    pub(super) async fn complete(
        &self,
        key: &IdemKey,
        fingerprint: &str,
        rsp: Option<StoredResponse>,
    ) {
        let Some(mut conn) = self.conn().await else {
            return;
        };
        let stored = rsp
            .and_then(|r| serde_json::to_string(&r).ok())
            .unwrap_or_default();
        let ttl_ms = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
        let mut set = redis::cmd("SET");
        set.arg(&key.0)
            .arg(format!("D:{fingerprint}:{stored}"))
            .arg("PX")
            .arg(ttl_ms);
        let done = tokio::time::timeout(CALL_TIMEOUT, set.query_async::<()>(&mut conn)).await;
        if !matches!(done, Ok(Ok(()))) {
            tracing::warn!("idempotency: could not store a response; a retry will run again");
        }
    }

    pub(super) async fn abort(&self, key: &IdemKey, fingerprint: &str) {
        let Some(mut conn) = self.conn().await else {
            return;
        };
        let mut invocation = self.abort.key(&key.0);
        invocation.arg(format!("I:{fingerprint}"));
        let _ = tokio::time::timeout(CALL_TIMEOUT, invocation.invoke_async::<i64>(&mut conn)).await;
    }
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
