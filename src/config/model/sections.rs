//! The view of the file's sections: the listeners, the limits, the trail, the identity key
//! and the state store — each field governed or operational (`[governance]`: `oversight`).

use super::{Fields, flag, gov, op, ranked, secs, set};
use crate::config::{defaults, file};
use crate::governance::model::{Model, Wider};

pub(super) fn server_view(m: &mut Model, t: &mut Fields, s: &file::Server) {
    let file::Server {
        listen,
        drain_timeout,
        shutdown_delay,
        require_versioned_routes,
        justification,
        tls,
    } = s;
    super::note(
        m,
        "server.justification".into(),
        gov(t, "server.justification", justification).as_deref(),
    );
    op(t, "server.listen", listen); // where partners connect
    op(t, "server.drain_timeout", drain_timeout); // how long a stop waits
    op(t, "server.shutdown_delay", shutdown_delay); // how long a stop announces itself
    set(
        m,
        "server.require_versioned_routes".into(),
        Some(flag(*gov(
            t,
            "server.require_versioned_routes",
            require_versioned_routes,
        ))),
        ranked(&["true", "false"]),
    );
    set(
        m,
        "server.tls".into(),
        Some(if tls.is_some() { "on" } else { "off" }.into()),
        ranked(&["on", "off"]),
    );
    let client_ca = tls.as_ref().and_then(|tls| {
        let file::Tls {
            cert,
            key,
            client_ca,
        } = tls;
        op(t, "server.tls.cert", cert); // certificates rotate without approval
        op(t, "server.tls.key", key);
        gov(t, "server.tls.client_ca", client_ca).clone()
    });
    // Who may present a partner certificate: dropping or changing the CA widens.
    set(m, "server.tls.client_ca".into(), client_ca, Wider::Unset);
}

pub(super) fn admin_view(m: &mut Model, t: &mut Fields, a: Option<&file::Admin>) {
    let (listen, token, max) = match a {
        Some(file::Admin {
            listen,
            token_sha256,
            max_connections,
        }) => (
            Some(gov(t, "admin.listen", listen).clone()),
            gov(t, "admin.token_sha256", token_sha256)
                .as_ref()
                .map(|s| s.to_ascii_lowercase()),
            Some(gov(t, "admin.max_connections", max_connections).to_string()),
        ),
        None => (None, None, None),
    };
    // The admin listener (reload, unsuspend, the trail's viewer) opened, moved, or opened to
    // another token widens.
    set(
        m,
        "admin".into(),
        Some(if listen.is_some() { "on" } else { "off" }.into()),
        ranked(&["off", "on"]),
    );
    set(m, "admin.listen".into(), listen, Wider::Any);
    set(m, "admin.token_sha256".into(), token, Wider::Any);
    set(m, "admin.max_connections".into(), max, Wider::Higher);
}

pub(super) fn limits_view(m: &mut Model, t: &mut Fields, l: &file::Limits) {
    let file::Limits {
        max_request_header_bytes,
        max_request_body_bytes,
        client_header_timeout,
        upstream_connect_timeout,
        upstream_timeout,
        client_body_timeout,
        max_connections,
        h2_max_concurrent_streams,
        h2_max_frame_size,
        h2_max_pending_reset_streams,
        h2_keepalive_interval,
        h2_keepalive_timeout,
        unauthenticated_rate_per_second,
        unauthenticated_burst,
    } = l;
    op(
        t,
        "limits.upstream_connect_timeout",
        upstream_connect_timeout,
    ); // the upstreams' health
    op(t, "limits.upstream_timeout", upstream_timeout);
    op(t, "limits.h2_keepalive_interval", h2_keepalive_interval); // idle pings
    op(t, "limits.h2_keepalive_timeout", h2_keepalive_timeout);
    // The caps that guard against abuse: higher (longer) gives a client more.
    for (name, value) in [
        (
            "limits.max_request_header_bytes",
            gov(
                t,
                "limits.max_request_header_bytes",
                max_request_header_bytes,
            )
            .to_string(),
        ),
        (
            "limits.max_request_body_bytes",
            gov(t, "limits.max_request_body_bytes", max_request_body_bytes).to_string(),
        ),
        (
            "limits.client_header_timeout",
            secs(gov(
                t,
                "limits.client_header_timeout",
                client_header_timeout,
            )),
        ),
        (
            "limits.client_body_timeout",
            secs(gov(t, "limits.client_body_timeout", client_body_timeout)),
        ),
        (
            "limits.max_connections",
            gov(t, "limits.max_connections", max_connections).to_string(),
        ),
        (
            "limits.h2_max_concurrent_streams",
            gov(
                t,
                "limits.h2_max_concurrent_streams",
                h2_max_concurrent_streams,
            )
            .to_string(),
        ),
        (
            "limits.h2_max_frame_size",
            gov(t, "limits.h2_max_frame_size", h2_max_frame_size).to_string(),
        ),
        (
            "limits.h2_max_pending_reset_streams",
            gov(
                t,
                "limits.h2_max_pending_reset_streams",
                h2_max_pending_reset_streams,
            )
            .to_string(),
        ),
        (
            "limits.unauthenticated_rate_per_second",
            gov(
                t,
                "limits.unauthenticated_rate_per_second",
                unauthenticated_rate_per_second,
            )
            .to_string(),
        ),
        (
            "limits.unauthenticated_burst",
            gov(t, "limits.unauthenticated_burst", unauthenticated_burst).to_string(),
        ),
    ] {
        set(m, name.into(), Some(value), Wider::Higher);
    }
}

pub(super) fn audit_view(m: &mut Model, t: &mut Fields, a: Option<&file::Audit>) {
    let on = a.is_some_and(|a| a.enabled != Some(false));
    set(
        m,
        "audit".into(),
        Some(if on { "on" } else { "off" }.into()),
        ranked(&["on", "off"]),
    );
    let Some(a) = a.filter(|_| on) else {
        return;
    };
    let file::Audit {
        enabled: _, // "audit" above
        dir,
        durability,
        flush_interval,
        rotate_bytes,
        retention_days,
        signing_key,
        checkpoint_every,
        checkpoint_interval,
        witness_dir,
    } = a;
    op(t, "audit.rotate_bytes", rotate_bytes); // how large one file grows
    // Another folder is another trail.
    set(
        m,
        "audit.dir".into(),
        gov(t, "audit.dir", dir).clone(),
        Wider::Any,
    );
    set(
        m,
        "audit.durability".into(),
        Some(
            gov(t, "audit.durability", durability)
                .clone()
                .unwrap_or_else(|| defaults::AUDIT_DURABILITY.into()),
        ),
        ranked(&["strict", "buffered"]),
    );
    // Buffered: how much a crash may lose.
    set(
        m,
        "audit.flush_interval".into(),
        Some(secs(
            gov(t, "audit.flush_interval", flush_interval)
                .as_deref()
                .unwrap_or(defaults::AUDIT_FLUSH_INTERVAL),
        )),
        Wider::Higher,
    );
    // Fewer days kept is less evidence.
    set(
        m,
        "audit.retention_days".into(),
        Some(
            gov(t, "audit.retention_days", retention_days)
                .unwrap_or(defaults::AUDIT_RETENTION_DAYS)
                .to_string(),
        ),
        Wider::Lower,
    );
    set(
        m,
        "audit.signing_key".into(),
        gov(t, "audit.signing_key", signing_key).clone(),
        Wider::Unset,
    );
    set(
        m,
        "audit.checkpoint_every".into(),
        Some(
            gov(t, "audit.checkpoint_every", checkpoint_every)
                .unwrap_or(defaults::AUDIT_CHECKPOINT_EVERY)
                .to_string(),
        ),
        Wider::Higher,
    );
    set(
        m,
        "audit.checkpoint_interval".into(),
        Some(secs(
            gov(t, "audit.checkpoint_interval", checkpoint_interval)
                .as_deref()
                .unwrap_or(defaults::AUDIT_CHECKPOINT_INTERVAL),
        )),
        Wider::Higher,
    );
    set(
        m,
        "audit.witness_dir".into(),
        gov(t, "audit.witness_dir", witness_dir).clone(),
        Wider::Unset,
    );
}

pub(super) fn identity_view(m: &mut Model, t: &mut Fields, i: Option<&file::Identity>) {
    let (key, ttl, issuer) = match i {
        Some(file::Identity {
            signing_key,
            ttl,
            issuer,
        }) => (
            Some(gov(t, "identity.signing_key", signing_key).clone()),
            Some(secs(gov(t, "identity.ttl", ttl))),
            Some(gov(t, "identity.issuer", issuer).clone()),
        ),
        None => (None, None, None),
    };
    // Upstreams that check the assertion lose it when the section goes.
    set(
        m,
        "identity".into(),
        Some(if key.is_some() { "on" } else { "off" }.into()),
        ranked(&["on", "off"]),
    );
    set(m, "identity.signing_key".into(), key, Wider::Any);
    // A longer-lived assertion can be replayed for longer.
    set(m, "identity.ttl".into(), ttl, Wider::Higher);
    set(m, "identity.issuer".into(), issuer, Wider::Any);
}

pub(super) fn state_view(m: &mut Model, t: &mut Fields, s: Option<&file::StateFile>) {
    let (backend, url, ttl, max_body, per_partner, max_entries, timeout) = match s {
        Some(file::StateFile {
            backend,
            redis_url,
            idempotency_ttl,
            idempotency_max_body_bytes,
            idempotency_max_per_partner,
            max_entries,
            timeout,
        }) => (
            Some(gov(t, "state.backend", backend).clone()),
            gov(t, "state.redis_url", redis_url).clone(),
            gov(t, "state.idempotency_ttl", idempotency_ttl).clone(),
            *gov(
                t,
                "state.idempotency_max_body_bytes",
                idempotency_max_body_bytes,
            ),
            *gov(
                t,
                "state.idempotency_max_per_partner",
                idempotency_max_per_partner,
            ),
            *gov(t, "state.max_entries", max_entries),
            gov(t, "state.timeout", timeout).clone(),
        ),
        None => (None, None, None, None, None, None, None),
    };
    let duration = |d: Option<String>, default: std::time::Duration| {
        Some(d.map_or_else(|| default.as_secs_f64().to_string(), |d| secs(&d)))
    };
    // Counters in one store for the fleet; in memory, every replica gives the full rate again.
    set(
        m,
        "state.backend".into(),
        Some(backend.unwrap_or_else(|| defaults::STATE_BACKEND.into())),
        ranked(&["redis", "memory"]),
    );
    // Another Redis holds other counters and idempotency records.
    set(m, "state.redis_url".into(), url, Wider::Any);
    // Each with its default filled in, so setting one where the default applied is judged
    // against the default. Shorter: a retry runs a workflow twice, or Redis is skipped (and
    // counting is per replica) sooner; fewer records: older keys are forgotten; more per
    // partner or larger: a partner holds more.
    set(
        m,
        "state.idempotency_ttl".into(),
        duration(ttl, defaults::STATE_IDEMPOTENCY_TTL),
        Wider::Lower,
    );
    set(
        m,
        "state.timeout".into(),
        duration(timeout, defaults::STATE_TIMEOUT),
        Wider::Lower,
    );
    set(
        m,
        "state.max_entries".into(),
        Some(
            max_entries
                .unwrap_or(defaults::STATE_MAX_ENTRIES)
                .to_string(),
        ),
        Wider::Lower,
    );
    set(
        m,
        "state.idempotency_max_per_partner".into(),
        Some(
            per_partner
                .unwrap_or(defaults::STATE_IDEMPOTENCY_MAX_PER_PARTNER)
                .to_string(),
        ),
        Wider::Higher,
    );
    set(
        m,
        "state.idempotency_max_body_bytes".into(),
        Some(
            max_body
                .unwrap_or(defaults::STATE_IDEMPOTENCY_MAX_BODY_BYTES)
                .to_string(),
        ),
        Wider::Higher,
    );
}
