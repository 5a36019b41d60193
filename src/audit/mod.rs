//! The tamper-evident audit trail: one hash-chained JSON line per request, written by one
//! dedicated thread, with signed checkpoints, rotation, retention, `verify` and `query`.
//!
//! The request path only queues; it never touches the file. A full queue or a failing disk
//! makes the gateway refuse new requests (fail closed) until writes succeed again.

mod commit;
mod governance;
pub mod in_force;
mod line;
mod queue;
mod record;
mod signing;
mod trail;
mod verify;
mod writer;

pub mod query;
pub mod report;
pub mod summary;

pub use record::{
    ConfigEvent, ConfigResult, ConfigTrigger, DIFF_LINES, Event, GENESIS, Intent,
    UnauthenticatedSummary, append_line, chain_hash, split_hash,
};
pub use signing::{generate_pem, load_signing_key, load_verifying_key};
pub use trail::{file_name, trail_files};
pub use verify::{Broken, Options as VerifyOptions, Report, verify, verify_bytes, verify_with};

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::TrySendError;

use crate::governance::diff::Diff;
use crate::governance::model::Model;
use crate::outcome::{Outcome, OutcomeSink, Recorded};
use crate::snapshot::{AuditSettings, Durability};

/// How often limited unauthenticated requests are summarised: one record per client address
/// and window.
pub const SUMMARY_WINDOW: std::time::Duration = std::time::Duration::from_secs(10);

/// Events queued for the writer, at most (a full queue fails closed).
const QUEUE: usize = 65_536;

/// What the writer is asked to do.
pub(crate) enum Msg {
    /// Append one record; in strict mode `ack` says whether it reached the disk.
    Event {
        event: Event,
        ack: Option<tokio::sync::oneshot::Sender<bool>>,
    },
    /// Keep the configuration in force beside the trail (after the record that put it there).
    InForce {
        dir: Arc<std::path::Path>,
        config_sha256: String,
        model: Arc<Model>,
    },
    /// Drain, checkpoint, sync and stop.
    Shutdown(tokio::sync::oneshot::Sender<()>),
}

/// The writer's health, shared with the request path and `/readyz`.
#[derive(Debug)]
pub struct Health {
    /// False while the trail cannot be written: new requests get `503 audit_unavailable`.
    pub healthy: AtomicBool,
    /// Records on disk since start.
    pub records: AtomicU64,
    /// Write failures since start.
    pub errors: AtomicU64,
    /// Records that could not be written or queued.
    pub lost: AtomicU64,
}

/// Why the trail could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The folder or a file could not be opened.
    #[error("audit trail in {dir}: {source}")]
    Io {
        /// The folder.
        dir: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The signing key could not be loaded.
    #[error("audit signing key: {0}")]
    Key(#[from] signing::KeyError),
}

/// Whether `path` holds an Ed25519 signing key the writer can load.
pub fn check_signing_key(path: &std::path::Path) -> Result<(), signing::KeyError> {
    signing::load_signing_key(path).map(drop)
}

/// The handle the gateway records through; cheap to clone.
#[derive(Clone)]
pub struct AuditSink {
    tx: queue::Sender<Msg>,
    health: Arc<Health>,
    strict: bool,
    /// Limited unauthenticated requests by client address, until the next `flush_summaries`.
    summaries: Arc<std::sync::Mutex<HashMap<String, UnauthenticatedSummary>>>,
    /// The trail's folder (where the configuration in force is kept).
    dir: Arc<std::path::Path>,
}

// === impl AuditSink ===

impl AuditSink {
    /// Opens (or resumes) the trail and starts the writer thread.
    pub fn start(settings: &AuditSettings) -> Result<Self, AuditError> {
        let key = match &settings.signing_key {
            Some(path) => Some(signing::load_signing_key(path)?),
            None => None,
        };
        let health = Arc::new(Health {
            healthy: AtomicBool::new(true),
            records: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            lost: AtomicU64::new(0),
        });
        let writer =
            writer::Writer::open(settings.clone(), key, health.clone()).map_err(|source| {
                AuditError::Io {
                    dir: settings.dir.display().to_string(),
                    source,
                }
            })?;
        tracing::info!(dir = %settings.dir.display(), seq = writer.seq(), durability = ?settings.durability, "audit trail open");
        let (tx, rx) = queue::bounded(QUEUE);
        std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|source| AuditError::Io {
                dir: settings.dir.display().to_string(),
                source,
            })?;
        Ok(Self {
            tx,
            health,
            strict: settings.durability == Durability::Strict,
            summaries: Arc::default(),
            dir: settings.dir.clone().into(),
        })
    }

    /// Records a configuration load. An accepted one (`in_force`: its governance view) is
    /// kept beside the trail as the configuration in force, and a start names the one it
    /// replaced — its hash and the diff — as a reload does.
    pub fn record_config(&self, mut event: ConfigEvent, in_force: Option<&Arc<Model>>) {
        if let (ConfigTrigger::Startup, Some(model)) = (event.trigger, in_force)
            && let Some(replaced) = in_force::read(&self.dir)
        {
            event.diff = Diff::between(&replaced.model, model).summary(record::DIFF_LINES);
            event.old_sha256 = Some(replaced.config_sha256);
        }
        let kept = in_force.cloned().zip(event.new_sha256.clone());
        self.submit(Event::Config(Box::new(event)));
        // Written by the writer thread after the record (the view is megabytes of JSON for a
        // large configuration: not on the reload's path).
        if let Some((model, config_sha256)) = kept
            && self
                .tx
                .try_send(Msg::InForce {
                    dir: self.dir.clone(),
                    config_sha256,
                    model,
                })
                .is_err()
        {
            tracing::warn!(
                "audit queue full: the configuration in force is not kept beside the trail this time"
            );
        }
    }

    /// The writer's health counters.
    pub fn health(&self) -> &Arc<Health> {
        &self.health
    }

    /// Queues an event; in strict mode the result resolves once it is on disk.
    pub fn submit(&self, event: Event) -> Recorded {
        let (ack, wait) = if self.strict {
            let (tx, rx) = tokio::sync::oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        match self.tx.try_send(Msg::Event { event, ack }) {
            Ok(()) => wait.map_or(Recorded::Done, Recorded::Pending),
            Err(e) => {
                self.health.lost.fetch_add(1, Ordering::Relaxed);
                if matches!(e, TrySendError::Full(_))
                    && self.health.healthy.swap(false, Ordering::Relaxed)
                {
                    tracing::error!(
                        "audit queue full; refusing requests with 503 audit_unavailable"
                    );
                }
                Recorded::Refused
            }
        }
    }

    /// Writes one summary record per client address whose unauthenticated requests were
    /// limited since the last call (the gateway calls it every `SUMMARY_WINDOW` and at
    /// shutdown).
    pub fn flush_summaries(&self) {
        let taken = match self.summaries.lock() {
            Ok(mut m) => std::mem::take(&mut *m),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        let mut summaries: Vec<_> = taken.into_values().collect();
        summaries.sort_by_key(|s| s.first);
        for s in summaries {
            // Buffered or strict alike: nothing waits on a summary.
            let _ = self.submit(Event::UnauthenticatedSummary(s));
        }
    }

    fn summarise(&self, o: &Outcome, code: &'static str) {
        let client = crate::state::unauthenticated::Address::of(o.client.ip()).to_string();
        let mut map = match self.summaries.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        // One entry per address; the limiter bounds the addresses it tracks, and this map is
        // emptied every window.
        let s = map
            .entry(client.clone())
            .or_insert_with(|| UnauthenticatedSummary {
                client,
                count: 0,
                first: o.ts,
                last: o.ts,
                codes: std::collections::BTreeMap::new(),
            });
        s.count += 1;
        s.last = s.last.max(o.ts);
        *s.codes.entry(code).or_insert(0) += 1;
    }

    /// Drains the queue, writes a final checkpoint, syncs, and stops the writer.
    pub async fn shutdown(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        // A full queue still drains: the writer takes this message in turn.
        let tx2 = self.tx.clone();
        let sent = tokio::task::spawn_blocking(move || tx2.send(Msg::Shutdown(tx))).await;
        if matches!(sent, Ok(Ok(()))) {
            let _ = rx.await;
        }
    }
}

impl OutcomeSink for AuditSink {
    /// Health lost to a full queue comes back with the writer's next successful write.
    fn record(&self, outcome: &Outcome) -> Recorded {
        if let Some(code) = outcome.summarised {
            self.summarise(outcome, code);
            return Recorded::Done;
        }
        self.submit(Event::request(outcome))
    }

    /// Strict durability only: the intent is on disk before the request is forwarded.
    fn intent(&self, intent: &Intent) -> Recorded {
        if !self.strict {
            return Recorded::Done;
        }
        self.submit(Event::intent(intent))
    }

    fn ready(&self) -> bool {
        self.health.healthy.load(Ordering::Relaxed)
    }

    fn suspension(&self, event: &crate::governance::misuse::Event) {
        let _ = self.submit(Event::Suspension(event.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink whose writer never takes anything: its queue fills.
    fn stalled(capacity: usize) -> (AuditSink, queue::Receiver<Msg>) {
        let (tx, rx) = queue::bounded(capacity);
        let health = Arc::new(Health {
            healthy: AtomicBool::new(true),
            records: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            lost: AtomicU64::new(0),
        });
        let sink = AuditSink {
            tx,
            health,
            strict: false,
            summaries: Arc::default(),
            dir: std::path::Path::new("unused").into(),
        };
        (sink, rx)
    }

    fn event() -> Event {
        Event::Retention {
            file: "audit-000001.jsonl".into(),
            reason: "test".into(),
            first_seq: 2,
            first_prev: GENESIS.into(),
        }
    }

    #[test]
    fn a_full_queue_refuses_the_record_and_fails_closed() {
        let (sink, _rx) = stalled(3);
        for _ in 0..3 {
            assert!(matches!(sink.submit(event()), Recorded::Done));
            assert!(sink.ready());
        }
        // The fourth record has nowhere to go: it is refused (the response it describes is
        // withheld), counted as lost, and new requests are refused until the writer recovers.
        assert!(matches!(sink.submit(event()), Recorded::Refused));
        assert!(!sink.ready());
        assert_eq!(sink.health().lost.load(Ordering::Relaxed), 1);
        assert!(matches!(sink.submit(event()), Recorded::Refused));
        assert_eq!(sink.health().lost.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_gone_writer_refuses_every_record() {
        let (sink, rx) = stalled(8);
        drop(rx);
        assert!(matches!(sink.submit(event()), Recorded::Refused));
        assert_eq!(sink.health().lost.load(Ordering::Relaxed), 1);
    }
}
