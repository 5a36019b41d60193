//! The writer's named parts — the chain on disk, the batch being committed, the segment it
//! goes to — and the one rule between them: a batch's chain becomes the chain on disk only
//! when its bytes are written (and, in strict mode, synced); otherwise the chain stays, the
//! batch's records are lost and every response waiting for them is refused. The segment
//! writes through a small seam (`Storage`), so each failure branch is tested with a storage
//! that fails on cue, not with filesystem tricks.

use std::fs::File;
use std::io::Write as _;

use tokio::sync::oneshot::Sender;

/// Where a segment's bytes go: its file, or a test double.
pub(super) trait Storage: Send {
    /// Appends `bytes`.
    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()>;
    /// Makes what was appended durable (`fdatasync`).
    fn sync(&mut self) -> std::io::Result<()>;
    /// Cuts the segment back to `len` bytes (a partial write undone).
    fn truncate(&mut self, len: u64) -> std::io::Result<()>;
}

impl Storage for File {
    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.write_all(bytes)
    }

    fn sync(&mut self) -> std::io::Result<()> {
        self.sync_data()
    }

    fn truncate(&mut self, len: u64) -> std::io::Result<()> {
        self.set_len(len)
    }
}

/// The chain's head: the last record's sequence number and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Chain {
    pub(super) seq: u64,
    pub(super) prev: String,
}

/// Records serialised but not yet committed, the chain after them, and who waits for them.
pub(super) struct Batch {
    pub(super) bytes: Vec<u8>,
    pub(super) acks: Vec<Sender<bool>>,
    pub(super) records: u64,
    /// The chain after the last record in `bytes`.
    pub(super) chain: Chain,
}

/// The trail file being appended to: its number, its size, and its storage (none after a
/// failure that could not be undone, until the writer opens the next one).
pub(super) struct Segment {
    pub(super) store: Option<Box<dyn Storage>>,
    pub(super) index: u64,
    pub(super) size: u64,
}

/// What a commit did.
#[derive(Debug)]
pub(super) enum Committed {
    /// Nothing was pending.
    Empty,
    /// This many records are on disk; the chain moved to the batch's.
    Records(u64),
    /// The batch is lost (this many records); the chain stayed.
    Failed(std::io::Error, u64),
}

// === impl Batch ===

impl Batch {
    /// An empty batch continuing `chain`.
    pub(super) fn after(chain: &Chain) -> Self {
        Self {
            bytes: Vec::new(),
            acks: Vec::new(),
            records: 0,
            chain: chain.clone(),
        }
    }
}

// === impl Segment ===

impl Segment {
    /// Appends `bytes` (synced when `sync`); on failure cuts any partial line back off, and
    /// when even that fails gives the segment up, so what follows goes to the next file.
    pub(super) fn write(&mut self, bytes: &[u8], sync: bool) -> std::io::Result<()> {
        let Some(store) = self.store.as_mut() else {
            return Err(std::io::Error::other("no audit file"));
        };
        let result = store
            .append(bytes)
            .and_then(|()| if sync { store.sync() } else { Ok(()) });
        match result {
            Ok(()) => {
                self.size += bytes.len() as u64;
                Ok(())
            }
            Err(e) => {
                if store.truncate(self.size).is_err() {
                    // The partial line stays; move on to a fresh file for what follows.
                    self.store = None;
                    self.index += 1;
                }
                Err(e)
            }
        }
    }
}

/// Commits `batch` to `segment`: the rule of the trail. Written (and synced when `sync`), the
/// batch's chain becomes `chain`; not, `chain` stays and the batch continues from it. Either
/// way the waiting responses learn which, and the batch is empty again.
pub(super) fn commit(
    chain: &mut Chain,
    batch: &mut Batch,
    segment: &mut Segment,
    sync: bool,
) -> Committed {
    if batch.bytes.is_empty() {
        return Committed::Empty;
    }
    let records = batch.records;
    let outcome = match segment.write(&batch.bytes, sync) {
        Ok(()) => {
            chain.clone_from(&batch.chain);
            Committed::Records(records)
        }
        Err(e) => {
            batch.chain.clone_from(chain);
            Committed::Failed(e, records)
        }
    };
    let ok = matches!(outcome, Committed::Records(_));
    for ack in batch.acks.drain(..) {
        let _ = ack.send(ok);
    }
    batch.bytes.clear();
    batch.records = 0;
    outcome
}

#[cfg(test)]
mod tests;
