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

/// Reloads `path` into `shared`; on error the running snapshot stays in force.
pub fn reload(shared: &Shared, path: &Path) -> Result<Reloaded, ConfigError> {
    let new = config::load(path)?;
    let old = shared.load();
    if new.config_sha256 == old.config_sha256 {
        return Ok(Reloaded::Unchanged);
    }
    if new.server.listen != old.server.listen {
        tracing::warn!(
            old = %old.server.listen,
            new = %new.server.listen,
            "server.listen changed; the listener keeps its address until restart"
        );
    }
    tracing::info!(
        old_sha256 = %old.config_sha256,
        new_sha256 = %new.config_sha256,
        summary = %new.summary(),
        "configuration reloaded"
    );
    shared.store(Arc::new(new));
    Ok(Reloaded::Swapped)
}
