//! `[audit]`: where and how the trail is written (its signing key is loaded here, as `serve` will).

use super::*;

/// What an operator adds when the file has no `[audit]`.
const AUDIT_MISSING: &str = "every request is recorded unless the file says otherwise: add [audit] with dir = \"/var/lib/kwanus-gateway/audit\", or [audit] with enabled = false to run without a trail";

/// The trail's settings; `None` when the file turns it off (or has a problem, recorded in `p`).
pub(super) fn compile_audit(p: &mut Problems, a: Option<file::Audit>) -> Option<AuditSettings> {
    let Some(a) = a else {
        p.push("audit", ProblemKind::Missing(AUDIT_MISSING));
        return None;
    };
    let file::Audit {
        enabled,
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
    if witness_dir.is_some() && signing_key.is_none() {
        p.bad(
            "audit.witness_dir",
            witness_dir.as_deref().unwrap_or(""),
            "needs audit.signing_key: only signed checkpoints are witnessed",
        );
    }
    if enabled == Some(false) {
        let set = [
            dir.is_some(),
            durability.is_some(),
            flush_interval.is_some(),
            rotate_bytes.is_some(),
            retention_days.is_some(),
            signing_key.is_some(),
            checkpoint_every.is_some(),
            checkpoint_interval.is_some(),
            witness_dir.is_some(),
        ];
        if set.contains(&true) {
            p.bad(
                "audit.enabled",
                "false",
                "the other [audit] settings would go unused: remove them, or remove enabled = false",
            );
        }
        return None;
    }
    let Some(dir) = dir else {
        p.push(
            "audit.dir",
            ProblemKind::Missing("name the folder the trail is written to"),
        );
        return None;
    };
    if dir.is_empty() {
        p.bad("audit.dir", &dir, "must name a folder");
    }
    let durability = match durability.as_deref().unwrap_or(defaults::AUDIT_DURABILITY) {
        "strict" => Some(Durability::Strict),
        "buffered" => Some(Durability::Buffered),
        other => {
            p.push(
                "audit.durability",
                ProblemKind::NotOneOf {
                    value: other.to_owned(),
                    expected: "\"strict\", \"buffered\"",
                },
            );
            None
        }
    };
    let flush = p.duration(
        "audit.flush_interval",
        flush_interval
            .as_deref()
            .unwrap_or(defaults::AUDIT_FLUSH_INTERVAL),
    );
    let checkpoint = p.duration(
        "audit.checkpoint_interval",
        checkpoint_interval
            .as_deref()
            .unwrap_or(defaults::AUDIT_CHECKPOINT_INTERVAL),
    );
    let rotate_bytes = rotate_bytes.unwrap_or(defaults::AUDIT_ROTATE_BYTES);
    if rotate_bytes < 4096 {
        p.bad(
            "audit.rotate_bytes",
            &rotate_bytes.to_string(),
            "must be at least 4096",
        );
    }
    let checkpoint_every = checkpoint_every.unwrap_or(defaults::AUDIT_CHECKPOINT_EVERY);
    if checkpoint_every == 0 {
        p.bad("audit.checkpoint_every", "0", "must be at least 1");
    }
    // Loaded here as `serve` will load it, so `check` fails on what `serve` would refuse.
    if let Some(key) = &signing_key {
        match crate::audit::check_signing_key(std::path::Path::new(key)) {
            Ok(()) => p.hash_file(key),
            Err(e) => p.bad("audit.signing_key", key, e.to_string()),
        }
    }
    // A relative folder is resolved once, against the working directory, and shown by `check`.
    let dir = std::path::absolute(&dir).unwrap_or_else(|_| dir.into());
    Some(AuditSettings {
        dir,
        durability: durability?,
        flush_interval: flush?,
        rotate_bytes,
        retention_days: retention_days.unwrap_or(defaults::AUDIT_RETENTION_DAYS),
        signing_key: signing_key.map(Into::into),
        checkpoint_every,
        checkpoint_interval: checkpoint?,
        witness_dir: witness_dir.map(|w| std::path::absolute(&w).unwrap_or_else(|_| w.into())),
    })
}
