//! Reload: load and validate the file, then swap the whole snapshot, or keep the old one.

use std::path::Path;
use std::sync::Arc;

use crate::config::{self, ConfigError};
use crate::snapshot::Shared;

/// What a reload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reloaded {
    /// A new snapshot is in force.
    Swapped,
    /// The file is unchanged; nothing was done.
    Unchanged,
}

/// The result of one reload and the configuration hashes it involved.
#[derive(Debug)]
pub struct Report {
    /// Swapped, unchanged, or why nothing changed.
    pub result: Result<Reloaded, ConfigError>,
    /// The hash in force before.
    pub old_sha256: String,
    /// The hash of the file that was read, if it could be read.
    pub new_sha256: Option<String>,
}

/// Reloads `path` into `shared`; on error the running snapshot stays in force.
pub fn reload(shared: &Shared, path: &Path) -> Report {
    let old = shared.load_full();
    let new_sha256 = std::fs::read(path)
        .ok()
        .map(|b| hex::encode(crate::auth::digest(&b)));
    let result = config::load(path).map(|new| {
        if new.config_sha256 == old.config_sha256 {
            return Reloaded::Unchanged;
        }
        if new.server.listen != old.server.listen {
            tracing::warn!(
                old = %old.server.listen,
                new = %new.server.listen,
                "server.listen changed; the listener keeps its address until restart"
            );
        }
        if new.audit.as_ref().map(|a| &a.dir) != old.audit.as_ref().map(|a| &a.dir) {
            tracing::warn!(
                "audit settings changed; the audit trail keeps its settings until restart"
            );
        }
        tracing::info!(
            old_sha256 = %old.config_sha256,
            new_sha256 = %new.config_sha256,
            summary = %new.summary(),
            "configuration reloaded"
        );
        shared.store(Arc::new(new));
        Reloaded::Swapped
    });
    Report {
        result,
        old_sha256: old.config_sha256.clone(),
        new_sha256,
    }
}
