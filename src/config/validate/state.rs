//! `[state]`: the rate-limit and idempotency backend.

use super::*;

/// `[state]`: memory (default) or Redis.
pub(super) fn compile_state(
    p: &mut Problems,
    state: Option<file::StateFile>,
) -> crate::state::StateSettings {
    let mut out = crate::state::StateSettings {
        redis_url: None,
        idempotency_ttl: defaults::STATE_IDEMPOTENCY_TTL,
        idempotency_max_body: defaults::STATE_IDEMPOTENCY_MAX_BODY_BYTES,
        idempotency_max_per_partner: defaults::STATE_IDEMPOTENCY_MAX_PER_PARTNER,
        max_entries: defaults::STATE_MAX_ENTRIES,
        timeout: defaults::STATE_TIMEOUT,
    };
    let Some(file::StateFile {
        backend,
        redis_url,
        idempotency_ttl,
        idempotency_max_body_bytes,
        idempotency_max_per_partner,
        max_entries,
        timeout,
    }) = state
    else {
        return out;
    };
    match (backend.as_str(), redis_url) {
        ("memory", None) => {}
        ("redis", Some(url)) if url.starts_with("redis://") || url.starts_with("rediss://") => {
            out.redis_url = Some(url);
        }
        ("redis", url) => p.bad(
            "state.redis_url",
            url.as_deref().unwrap_or(""),
            "the redis backend needs redis_url = \"redis://host:port/db\"",
        ),
        ("memory", Some(url)) => p.bad("state.redis_url", &url, "only for backend = \"redis\""),
        (other, _) => p.push(
            "state.backend",
            ProblemKind::NotOneOf {
                value: other.to_owned(),
                expected: "\"memory\", \"redis\"",
            },
        ),
    }
    if let Some(ttl) = idempotency_ttl.and_then(|t| p.duration("state.idempotency_ttl", &t)) {
        out.idempotency_ttl = ttl;
    }
    if let Some(max) = idempotency_max_body_bytes {
        out.idempotency_max_body = max;
    }
    if let Some(max) = idempotency_max_per_partner {
        if max == 0 {
            p.bad(
                "state.idempotency_max_per_partner",
                "0",
                "must be at least 1",
            );
        }
        out.idempotency_max_per_partner = max;
    }
    if let Some(t) = timeout.and_then(|t| p.duration("state.timeout", &t)) {
        out.timeout = t;
    }
    if let Some(max) = max_entries {
        if max == 0 {
            p.bad("state.max_entries", "0", "must be at least 1");
        }
        out.max_entries = max;
    }
    out
}
