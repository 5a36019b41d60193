//! `[audit]`: where and how the trail is written (its signing key is loaded here, as `serve` will).

use super::*;

pub(super) fn compile_audit(p: &mut Problems, a: file::Audit) -> Option<AuditSettings> {
    let file::Audit {
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
