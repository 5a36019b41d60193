//! The writer's named parts — the chain on disk, the batch being committed, the segment it
//! goes to — and the one rule between them: a batch's chain becomes the chain on disk only
//! when its bytes are written (and, in strict mode, synced); otherwise the chain stays, the
//! batch's records are lost and every response waiting for them is refused. The segment
//! writes through a small seam (`Storage`), so each failure branch is tested with a storage
//! that fails on cue, not with filesystem tricks.
//!
//! In strict mode a segment's file is written through ahead of its records (`SegmentFile`:
//! zeros, a mebibyte at a time), so the `fdatasync` of a commit writes data only — never a
//! journal commit for a new extent or size. The zeros past the last record are cut when the
//! segment is sealed (rotation, shutdown); readers stop at them if a crash left them.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt as _;
use std::path::Path;

use tokio::sync::oneshot::Sender;

/// Where a segment's bytes go: its file, or a test double.
pub(super) trait Storage: Send {
    /// Appends `bytes`.
    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()>;
    /// Makes what was appended durable (`fdatasync`).
    fn sync(&mut self) -> std::io::Result<()>;
    /// Cuts the segment back to `len` bytes (a partial write undone).
    fn truncate(&mut self, len: u64) -> std::io::Result<()>;
    /// The segment is done (rotation, shutdown): no padding after its last record, and all
    /// of it durable.
    fn seal(&mut self) -> std::io::Result<()> {
        self.sync()
    }
}

/// How far ahead of its records a strict segment is written through.
const WRITE_AHEAD: u64 = 1 << 20;

/// A trail file: records are written at the end of the data; in strict mode the file is
/// zero-filled ahead of them.
pub(super) struct SegmentFile {
    file: File,
    /// Where the data ends (the next record's offset).
    at: u64,
    /// How far the file is written through (its length).
    filled: u64,
    write_ahead: bool,
}

impl SegmentFile {
    /// Opens (or creates, mode 0600) the segment at `path`; its data ends at the last byte
    /// that is not padding.
    pub(super) fn open(path: &Path, write_ahead: bool) -> std::io::Result<Self> {
        let mut opts = OpenOptions::new();
        opts.create(true).read(true).write(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let file = opts.open(path)?;
        let filled = file.metadata()?.len();
        let at = data_end(&file, filled)?;
        Ok(Self {
            file,
            at,
            filled,
            write_ahead,
        })
    }

    /// The length of the data (where the next record goes).
    pub(super) fn data_len(&self) -> u64 {
        self.at
    }
}

/// The offset after the last byte of `file` (of length `len`) that is not zero padding.
fn data_end(file: &File, len: u64) -> std::io::Result<u64> {
    let mut end = len;
    let mut buf = vec![0u8; 64 * 1024];
    while end > 0 {
        let from = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - from) as usize];
        file.read_exact_at(chunk, from)?;
        if let Some(i) = chunk.iter().rposition(|b| *b != 0) {
            return Ok(from + i as u64 + 1);
        }
        end = from;
    }
    Ok(0)
}

impl Storage for SegmentFile {
    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let end = self.at + bytes.len() as u64;
        if self.write_ahead && end > self.filled {
            // Write the zeros through once; the data that lands on them later changes no
            // extent and no size.
            let target = end.div_ceil(WRITE_AHEAD) * WRITE_AHEAD;
            let zeros = vec![0u8; (target - self.filled) as usize];
            self.file.write_all_at(&zeros, self.filled)?;
            self.filled = target;
        }
        self.file.write_all_at(bytes, self.at)?;
        self.at = end;
        self.filled = self.filled.max(end);
        Ok(())
    }

    fn sync(&mut self) -> std::io::Result<()> {
        self.file.sync_data()
    }

    fn truncate(&mut self, len: u64) -> std::io::Result<()> {
        self.file.set_len(len)?;
        self.at = len;
        self.filled = len;
        Ok(())
    }

    fn seal(&mut self) -> std::io::Result<()> {
        if self.filled > self.at {
            self.file.set_len(self.at)?;
            self.filled = self.at;
        }
        self.file.sync_all()
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
