//! Reload: load and validate the file, then swap the whole snapshot, or keep the old one;
//! record every attempt in the audit trail and the metrics. Triggers: SIGHUP, the admin
//! endpoint, and a change of the file (`notify`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::audit::{AuditSink, ConfigEvent, ConfigResult, ConfigTrigger, DIFF_LINES};
use crate::config::{self, ConfigError};
use crate::governance::diff::Diff;
use crate::metrics::Metrics;
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
    /// What the change does to governance (capped), when the file was valid.
    pub diff: Vec<String>,
    /// What made the new configuration acceptable, when approvals are enforced.
    pub approved: Option<crate::approvals::Approved>,
}

/// The last reload, for `/admin/status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LastReload {
    /// When (RFC 3339).
    pub at: String,
    /// Who asked.
    pub trigger: &'static str,
    /// `ok`, `unchanged` or `error`.
    pub result: &'static str,
    /// The problems, for `error`.
    pub error: Option<String>,
}

/// Reloads one configuration file into one shared snapshot.
pub struct Reloader {
    shared: Shared,
    path: Option<PathBuf>,
    audit: Option<AuditSink>,
    metrics: Arc<Metrics>,
    /// The upstream clients, shared with the snapshots in force.
    pools: Arc<crate::upstream::Pools>,
    generation: AtomicU64,
    // Written only by reloads and read only by /admin/status; never held across an await.
    last: Mutex<Option<LastReload>>,
    /// SHA-256 of the file content whose last load failed: the watcher never retries it.
    failed_sha256: Mutex<Option<String>>,
    /// The approvals folder named on the command line, if any.
    approvals: Option<PathBuf>,
}

// === impl Reloader ===

impl Reloader {
    /// A reloader for `path` (none: reload is refused).
    pub fn new(
        shared: Shared,
        path: Option<PathBuf>,
        audit: Option<AuditSink>,
        metrics: Arc<Metrics>,
        pools: Arc<crate::upstream::Pools>,
        approvals: Option<PathBuf>,
    ) -> Self {
        Self {
            shared,
            path,
            audit,
            metrics,
            pools,
            approvals,
            generation: AtomicU64::new(1),
            last: Mutex::new(None),
            failed_sha256: Mutex::new(None),
        }
    }

    /// The config file, if the gateway was started from one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// How many snapshots have been in force (1 at start).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    /// The last reload attempt.
    pub fn last(&self) -> Option<LastReload> {
        self.last.lock().map(|l| l.clone()).unwrap_or(None)
    }

    /// Reloads and records the attempt; `trigger` says who asked.
    pub fn reload(&self, trigger: ConfigTrigger) -> Report {
        let Some(path) = &self.path else {
            return Report {
                result: Err(ConfigError::Syntax(
                    "this gateway was not started from a configuration file".into(),
                )),
                old_sha256: self.shared.load().config_sha256.clone(),
                new_sha256: None,
                diff: Vec::new(),
                approved: None,
            };
        };
        let report = swap(
            &self.shared,
            path,
            &self.metrics,
            &self.pools,
            self.approvals.as_deref(),
        );
        if let Ok(mut failed) = self.failed_sha256.lock() {
            *failed = match &report.result {
                Err(_) => report.new_sha256.clone(),
                Ok(_) => None,
            };
        }
        let (result, error) = match &report.result {
            Ok(Reloaded::Swapped) => {
                self.generation.fetch_add(1, Ordering::Relaxed);
                (ConfigResult::Ok, None)
            }
            Ok(Reloaded::Unchanged) => (ConfigResult::Unchanged, None),
            Err(e @ ConfigError::Unapproved(_)) => (ConfigResult::Unapproved, Some(e.to_string())),
            Err(e) => (ConfigResult::Error, Some(e.to_string())),
        };
        let trigger_name = trigger.as_str();
        match &report.result {
            Ok(Reloaded::Swapped) => {}
            Ok(Reloaded::Unchanged) => {
                tracing::info!(trigger = trigger_name, "reload: configuration unchanged");
            }
            Err(e) => {
                for line in e.to_string().lines() {
                    tracing::error!(
                        trigger = trigger_name,
                        problem = line,
                        "reload refused; the running configuration stays"
                    );
                }
            }
        }
        self.metrics.reload(result.as_str());
        if let Some(a) = &self.audit {
            let in_force = self.shared.load();
            let accepted = matches!(report.result, Ok(Reloaded::Swapped));
            a.record_config(
                ConfigEvent {
                    trigger,
                    result,
                    old_sha256: Some(report.old_sha256.clone()),
                    new_sha256: report.new_sha256.clone(),
                    detail: error.clone(),
                    diff: report.diff.clone(),
                    approved: report.approved.clone(),
                },
                accepted.then_some(&in_force.model),
            );
        }
        if let Ok(mut last) = self.last.lock() {
            *last = Some(LastReload {
                at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
                trigger: trigger_name,
                result: result.as_str(),
                error,
            });
        }
        report
    }

    /// Whether the file on disk holds content worth loading: different from the snapshot in
    /// force and from the content that last failed (a signal or the admin call still retries
    /// it, since a file it references may have been fixed).
    fn file_changed(&self) -> bool {
        // Only the configuration file is watched; rotated certificates are picked up by the
        // reload that follows a SIGHUP or admin call (or any change of the file).
        let Some(path) = &self.path else { return false };
        let Ok(bytes) = crate::files::read(path) else {
            return false;
        };
        let sha = hex::encode(crate::auth::digest(&bytes));
        let failed = self.failed_sha256.lock().ok().and_then(|f| f.clone());
        sha != self.shared.load().config_sha256 && failed.as_deref() != Some(sha.as_str())
    }
}

/// Validates `path` and swaps it into `shared`; on error the running snapshot stays.
fn swap(
    shared: &Shared,
    path: &Path,
    metrics: &Metrics,
    pools: &crate::upstream::Pools,
    approvals: Option<&Path>,
) -> Report {
    let old = shared.load_full();
    let (new_sha256, loaded) = config::load_hashed(path);
    let mut diff = Vec::new();
    let mut approved = None;
    let result = loaded.and_then(|mut new| {
        if new.material_sha256 == old.material_sha256 {
            return Ok(Reloaded::Unchanged);
        }
        let change = Diff::between(&old.model, &new.model);
        diff = change.summary(DIFF_LINES);
        if let Some(c) = change.grants_in_maintenance(&new.model).next() {
            return Err(ConfigError::Refused(format!(
                "{}: a partner in maintenance takes no new grants (limited updates); move it to active first",
                c.line()
            )));
        }
        let gate = crate::approvals::gate(&new, Some(&old), approvals).map_err(ConfigError::Unapproved)?;
        if let Some(g) = gate.as_ref().filter(|g| !g.accepted()) {
            return Err(ConfigError::Unapproved(g.refusal()));
        }
        if new.server.listen != old.server.listen {
            tracing::warn!(old = %old.server.listen, new = %new.server.listen, "server.listen changed; the listener keeps its address until restart");
        }
        if new.audit.as_ref().map(|a| &a.dir) != old.audit.as_ref().map(|a| &a.dir) {
            tracing::warn!("audit settings changed; the audit trail keeps its settings until restart");
        }
        metrics.config_loaded(&new);
        crate::safeguards::log_off(&new);
        pools.bind(&new.upstreams);
        let (new_sha256, summary) = (new.config_sha256.clone(), new.summary());
        // The text goes to the approved copy, not into the snapshot in force.
        let (source, model) = (std::mem::take(&mut new.source), new.model.clone());
        shared.store(Arc::new(new));
        // Logged once the new snapshot is in force.
        tracing::info!(old_sha256 = %old.config_sha256, %new_sha256, %summary, "configuration reloaded");
        match gate.map(|g| g.commit(&source, &model)) {
            Some(Ok(a)) => approved = Some(a),
            Some(Err(e)) => tracing::error!(error = %e, "the accepted configuration could not be kept as the approved copy"),
            None => {}
        }
        Ok(Reloaded::Swapped)
    });
    Report {
        result,
        old_sha256: old.config_sha256.clone(),
        new_sha256,
        diff,
        approved,
    }
}

/// Watches the configuration file and reloads when its content changes. Returns the
/// watcher, which stops watching when dropped.
pub fn watch(reloader: Arc<Reloader>) -> notify::Result<Option<notify::RecommendedWatcher>> {
    use notify::Watcher;
    let Some(path) = reloader.path().map(Path::to_owned) else {
        return Ok(None);
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Opens and reads (the gateway's own among them) are not changes.
        if event.is_ok_and(|e| !e.kind.is_access()) {
            let _ = tx.send(());
        }
    })?;
    // The folder, not the file: editors replace files by renaming over them.
    watcher.watch(&dir, notify::RecursiveMode::NonRecursive)?;
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // Let a burst of events (write, rename, chmod) settle into one reload.
            tokio::time::sleep(Duration::from_millis(150)).await;
            while rx.try_recv().is_ok() {}
            if reloader.file_changed() {
                reloader.reload(ConfigTrigger::FileWatch);
            }
        }
    });
    Ok(Some(watcher))
}
