//! The one audit writer thread: group commit, rotation, checkpoints, retention, resume.
//!
//! Every record passes through this thread, which owns the chain, the batch and the segment
//! (`commit.rs`: a batch's chain becomes the chain on disk only once written); the request
//! path only queues events and, in strict mode, waits for the commit.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{RecvTimeoutError, TryRecvError};
use std::time::{Duration, SystemTime};

use ed25519_dalek::SigningKey;

use super::commit::{Batch, Chain, Committed, Segment, SegmentFile, commit};
use super::queue::Receiver;
use super::record::{self, Event};
use super::trail::{
    WITNESS_FILE, file_name, first_record, open_append, resume, sync_dir, trail_files,
};
use super::{Health, Msg, signing};
use crate::snapshot::{AuditSettings, Durability};

/// Most events folded into one write.
const MAX_BATCH: usize = 4096;
/// Buffered mode writes early once this much is pending.
const BUFFERED_HIGH_WATER: usize = 256 * 1024;
/// How often retention runs besides start-up and rotation.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);
/// How often the buffered writer looks for new records.
const BUFFERED_TICK: Duration = Duration::from_millis(2);
/// How often a failing writer retries on its own.
const RETRY_EVERY: Duration = Duration::from_millis(200);

/// The writer's state; lives on its own thread.
pub(super) struct Writer {
    settings: AuditSettings,
    /// The trail file being appended to.
    segment: Segment,
    /// The chain of what is on disk.
    chain: Chain,
    /// Serialised lines not yet written, the chain after them, and who waits for them.
    batch: Batch,
    last_flush: tokio::time::Instant,
    key: Option<SigningKey>,
    since_checkpoint: u64,
    last_checkpoint: tokio::time::Instant,
    next_retention: tokio::time::Instant,
    health: Arc<Health>,
}

// === impl Writer ===

impl Writer {
    /// Opens the trail in `settings.dir`, resuming its chain.
    pub(super) fn open(
        settings: AuditSettings,
        key: Option<SigningKey>,
        health: Arc<Health>,
    ) -> std::io::Result<Self> {
        std::fs::create_dir_all(&settings.dir)?;
        if let Some(w) = &settings.witness_dir {
            std::fs::create_dir_all(w)?;
        }
        let resume = resume(&settings.dir)?;
        let path = settings.dir.join(file_name(resume.index));
        let file = SegmentFile::open(&path, settings.durability == Durability::Strict)?;
        let size = file.data_len();
        let now = tokio::time::Instant::now();
        let chain = Chain {
            seq: resume.seq,
            prev: resume.prev,
        };
        Ok(Self {
            settings,
            segment: Segment {
                store: Some(Box::new(file)),
                index: resume.index,
                size,
            },
            batch: Batch::after(&chain),
            chain,
            last_flush: now,
            key,
            since_checkpoint: 0,
            last_checkpoint: now,
            next_retention: now,
            health,
        })
    }

    /// The last sequence number on disk.
    pub(super) fn seq(&self) -> u64 {
        self.chain.seq
    }

    /// Runs until shutdown or until every sender is gone.
    pub(super) fn run(mut self, rx: Receiver<Msg>) {
        self.retain();
        loop {
            let msg = if self.strict() {
                match rx.recv_timeout(self.next_wake()) {
                    Ok(msg) => Some(msg),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            } else {
                // Buffered: poll on a short tick, so that a request handing over its record
                // never has to wake this thread (a futex call per request otherwise).
                std::thread::sleep(BUFFERED_TICK.min(self.settings.flush_interval));
                match rx.try_recv() {
                    Ok(msg) => Some(msg),
                    Err(TryRecvError::Empty) => None,
                    Err(TryRecvError::Disconnected) => break,
                }
            };
            let mut stop = None;
            if let Some(msg) = msg {
                stop = self.take(msg);
                while stop.is_none() && self.batch.acks.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(msg) => stop = self.take(msg),
                        Err(_) => break,
                    }
                }
            }
            if stop.is_some() || self.flush_due() {
                self.flush();
            }
            if self.segment.store.is_none() && !self.health.healthy.load(Ordering::Relaxed) {
                self.probe();
            }
            self.housekeeping();
            if let Some(done) = stop {
                self.finish();
                let _ = done.send(());
                return;
            }
        }
        self.flush();
        self.finish();
    }

    /// Queues one message; returns the shutdown acknowledgement if it asks to stop.
    fn take(&mut self, msg: Msg) -> Option<tokio::sync::oneshot::Sender<()>> {
        match msg {
            Msg::Event { event, ack } => {
                self.push(&event);
                if let Some(ack) = ack {
                    self.batch.acks.push(ack);
                }
                None
            }
            Msg::InForce {
                dir,
                config_sha256,
                model,
            } => {
                // The record that put it in force goes to disk first.
                self.flush();
                super::in_force::write(&dir, &config_sha256, &model);
                None
            }
            Msg::Shutdown(done) => Some(done),
        }
    }

    fn push(&mut self, event: &Event) {
        let b = &mut self.batch;
        b.chain.seq += 1;
        b.chain.prev = record::append_line(&mut b.bytes, b.chain.seq, &b.chain.prev, event);
        b.records += 1;
    }

    fn strict(&self) -> bool {
        self.settings.durability == Durability::Strict
    }

    fn flush_due(&self) -> bool {
        if self.batch.bytes.is_empty() {
            return false;
        }
        self.strict()
            || self.batch.bytes.len() >= BUFFERED_HIGH_WATER
            || self.last_flush.elapsed() >= self.settings.flush_interval
    }

    fn next_wake(&self) -> Duration {
        let mut wake = RETRY_EVERY.max(Duration::from_millis(10));
        if !self.batch.bytes.is_empty() {
            wake = wake.min(
                self.settings
                    .flush_interval
                    .saturating_sub(self.last_flush.elapsed()),
            );
        }
        if self.key.is_some() && self.since_checkpoint > 0 {
            wake = wake.min(
                self.settings
                    .checkpoint_interval
                    .saturating_sub(self.last_checkpoint.elapsed()),
            );
        }
        wake.max(Duration::from_millis(1))
    }

    /// Writes everything pending in one write (and one `fdatasync` in strict mode), then
    /// releases the waiting responses.
    fn flush(&mut self) {
        self.last_flush = tokio::time::Instant::now();
        if self.batch.bytes.is_empty() {
            return;
        }
        self.ensure_open();
        let strict = self.strict();
        match commit(&mut self.chain, &mut self.batch, &mut self.segment, strict) {
            Committed::Empty => {}
            Committed::Records(n) => {
                self.since_checkpoint += n;
                self.health.records.fetch_add(n, Ordering::Relaxed);
                self.set_healthy();
                if self.segment.size >= self.settings.rotate_bytes {
                    self.rotate();
                }
            }
            // The chain continues from what is on disk; these records are lost and the
            // responses waiting for them were refused.
            Committed::Failed(e, n) => self.set_failing(&e, n),
        }
    }

    /// Opens the segment's file again after a failure gave it up.
    fn ensure_open(&mut self) {
        if self.segment.store.is_some() {
            return;
        }
        let path = self.settings.dir.join(file_name(self.segment.index));
        if let Ok(file) = SegmentFile::open(&path, self.strict()) {
            self.segment.size = file.data_len();
            self.segment.store = Some(Box::new(file));
        }
    }

    /// Closes the current file with a checkpoint and starts the next one.
    fn rotate(&mut self) {
        self.checkpoint();
        if let Some(mut f) = self.segment.store.take()
            && let Err(e) = f.seal()
        {
            tracing::warn!(error = %e, "audit: cannot seal the finished trail file");
        }
        self.segment.index += 1;
        self.segment.size = 0;
        let path = self.settings.dir.join(file_name(self.segment.index));
        match SegmentFile::open(&path, self.strict()) {
            Ok(f) => {
                self.segment.store = Some(Box::new(f));
                sync_dir(&self.settings.dir);
            }
            Err(e) => self.set_failing(&e, 0),
        }
        self.retain();
    }

    /// Writes a signed checkpoint over the last record, if a key is configured and there is
    /// anything new to cover.
    fn checkpoint(&mut self) {
        let Some(key) = &self.key else { return };
        let Chain { seq, prev } = &self.chain;
        if self.since_checkpoint == 0 || *seq == 0 {
            return;
        }
        let line = serde_json::json!({
            "kind": "checkpoint",
            "ts": record::timestamp(SystemTime::now()),
            "seq": seq,
            "record_hash": prev,
            "public_key": hex::encode(key.verifying_key().as_bytes()),
            "signature": signing::sign(key, *seq, prev),
        });
        let mut bytes = line.to_string().into_bytes();
        bytes.push(b'\n');
        self.ensure_open();
        match self.segment.write(&bytes, true) {
            Ok(()) => {
                self.since_checkpoint = 0;
                self.last_checkpoint = tokio::time::Instant::now();
            }
            Err(e) => self.set_failing(&e, 0),
        }
        if let Some(dir) = &self.settings.witness_dir {
            // The off-volume copy: a trail cut together with its checkpoints is still caught.
            let written = open_append(&dir.join(WITNESS_FILE)).and_then(|mut f| {
                f.write_all(&bytes)?;
                f.sync_data()
            });
            if let Err(e) = written {
                tracing::error!(dir = %dir.display(), error = %e, "audit witness: cannot append the checkpoint");
                self.health.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn housekeeping(&mut self) {
        if self.key.is_some()
            && self.since_checkpoint > 0
            && self.batch.bytes.is_empty()
            && (self.since_checkpoint >= self.settings.checkpoint_every
                || self.last_checkpoint.elapsed() >= self.settings.checkpoint_interval)
        {
            self.checkpoint();
        }
        if tokio::time::Instant::now() >= self.next_retention {
            self.retain();
        }
    }

    /// Deletes trail files older than `retention_days` (never the current one), oldest first
    /// and only from the head, so the trail never has a hole. Before each deletion a durable
    /// retention record names the file and vouches for the new start of the trail: its first
    /// remaining record's seq and `prev`.
    fn retain(&mut self) {
        self.next_retention = tokio::time::Instant::now() + RETENTION_EVERY;
        let max_age = Duration::from_secs(u64::from(self.settings.retention_days) * 86_400);
        let Ok(files) = trail_files(&self.settings.dir) else {
            return;
        };
        let now = SystemTime::now();
        for (i, (index, path)) in files.iter().enumerate() {
            if *index >= self.segment.index {
                break;
            }
            let age = std::fs::metadata(path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| now.duration_since(m).ok());
            if age.is_none_or(|a| a <= max_age) {
                break;
            }
            // The record that becomes the first of the trail once this file is gone.
            let next = files[i + 1..]
                .iter()
                .find_map(|(_, p)| first_record(p).ok().flatten());
            let Some((first_seq, first_prev)) = next else {
                break;
            };
            let written = self.chain.seq;
            self.push(&Event::Retention {
                file: file_name(*index),
                reason: format!(
                    "older than retention_days = {}",
                    self.settings.retention_days
                ),
                first_seq,
                first_prev,
            });
            self.flush();
            if self.chain.seq == written {
                // The record did not reach the disk: the file stays.
                break;
            }
            match std::fs::remove_file(path) {
                Ok(()) => tracing::info!(file = %path.display(), "audit retention: deleted"),
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "audit retention: cannot delete");
                    break;
                }
            }
        }
    }

    /// While failing with no file, checks whether a file can be opened again.
    fn probe(&mut self) {
        self.ensure_open();
        if self.segment.store.is_some() {
            self.set_healthy();
        }
    }

    /// Drains, checkpoints and syncs: the last thing the writer does.
    fn finish(&mut self) {
        self.flush();
        self.checkpoint();
        if let Some(f) = self.segment.store.as_mut()
            && let Err(e) = f.seal()
        {
            tracing::warn!(error = %e, "audit: cannot seal the trail file");
        }
        tracing::info!(seq = self.chain.seq, "audit trail closed");
    }

    fn set_healthy(&self) {
        if !self.health.healthy.swap(true, Ordering::Relaxed) {
            tracing::warn!("audit trail writable again; serving requests");
        }
    }

    fn set_failing(&self, e: &std::io::Error, lost: u64) {
        self.health.errors.fetch_add(1, Ordering::Relaxed);
        self.health.lost.fetch_add(lost, Ordering::Relaxed);
        // Logged once per burst: only on the transition from healthy.
        if self.health.healthy.swap(false, Ordering::Relaxed) {
            tracing::error!(
                error = %e,
                dir = %self.settings.dir.display(),
                "audit trail not writable; refusing requests with 503 audit_unavailable"
            );
        }
    }
}
