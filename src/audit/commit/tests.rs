//! Each branch of the commit rule, with a storage that fails on cue.

use std::sync::{Arc, Mutex};

use super::*;

/// What the fake storage holds and how it should fail next.
#[derive(Default)]
struct Disk {
    bytes: Vec<u8>,
    synced: usize,
    syncs: usize,
    /// The next append writes this many bytes and fails.
    fail_append_after: Option<usize>,
    fail_sync: bool,
    fail_truncate: bool,
}

#[derive(Clone, Default)]
struct Fake(Arc<Mutex<Disk>>);

impl Storage for Fake {
    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let mut d = self.0.lock().expect("disk");
        if let Some(n) = d.fail_append_after.take() {
            d.bytes.extend_from_slice(&bytes[..n.min(bytes.len())]);
            return Err(std::io::Error::other("disk full"));
        }
        d.bytes.extend_from_slice(bytes);
        Ok(())
    }

    fn sync(&mut self) -> std::io::Result<()> {
        let mut d = self.0.lock().expect("disk");
        d.syncs += 1;
        if d.fail_sync {
            return Err(std::io::Error::other("EIO"));
        }
        d.synced = d.bytes.len();
        Ok(())
    }

    fn truncate(&mut self, len: u64) -> std::io::Result<()> {
        let mut d = self.0.lock().expect("disk");
        if d.fail_truncate {
            return Err(std::io::Error::other("EIO"));
        }
        d.bytes.truncate(len as usize);
        Ok(())
    }
}

fn head(seq: u64) -> Chain {
    Chain {
        seq,
        prev: format!("{seq:064}"),
    }
}

/// A chain at 7, a batch of two records after it, each with a waiting response.
fn setup(
    disk: &Fake,
) -> (
    Chain,
    Batch,
    Segment,
    Vec<tokio::sync::oneshot::Receiver<bool>>,
) {
    let chain = head(7);
    let mut batch = Batch::after(&chain);
    let mut waits = Vec::new();
    for line in ["{\"seq\":8}\n", "{\"seq\":9}\n"] {
        batch.bytes.extend_from_slice(line.as_bytes());
        batch.records += 1;
        let (tx, rx) = tokio::sync::oneshot::channel();
        batch.acks.push(tx);
        waits.push(rx);
    }
    batch.chain = head(9);
    disk.0.lock().expect("disk").bytes = b"old\n".to_vec();
    let segment = Segment {
        store: Some(Box::new(disk.clone())),
        index: 3,
        size: 4,
    };
    (chain, batch, segment, waits)
}

fn answers(waits: Vec<tokio::sync::oneshot::Receiver<bool>>) -> Vec<bool> {
    waits
        .into_iter()
        .map(|mut w| w.try_recv().expect("answered"))
        .collect()
}

#[test]
fn a_synced_batch_moves_the_chain_and_releases_its_responses() {
    let disk = Fake::default();
    let (mut chain, mut batch, mut segment, waits) = setup(&disk);
    let done = commit(&mut chain, &mut batch, &mut segment, true);
    assert!(matches!(done, Committed::Records(2)), "{done:?}");
    assert_eq!(chain, head(9));
    assert_eq!(answers(waits), [true, true]);
    let d = disk.0.lock().expect("disk");
    assert_eq!(d.bytes, b"old\n{\"seq\":8}\n{\"seq\":9}\n");
    assert_eq!((d.syncs, d.synced), (1, d.bytes.len()));
    assert_eq!(segment.size, d.bytes.len() as u64);
    assert!(batch.bytes.is_empty() && batch.records == 0 && batch.acks.is_empty());
}

#[test]
fn buffered_commits_do_not_sync() {
    let disk = Fake::default();
    let (mut chain, mut batch, mut segment, _waits) = setup(&disk);
    commit(&mut chain, &mut batch, &mut segment, false);
    assert_eq!(chain, head(9));
    assert_eq!(disk.0.lock().expect("disk").syncs, 0);
}

#[test]
fn a_failed_write_keeps_the_chain_cuts_the_partial_line_and_refuses_its_responses() {
    let disk = Fake::default();
    let (mut chain, mut batch, mut segment, waits) = setup(&disk);
    disk.0.lock().expect("disk").fail_append_after = Some(5);
    let done = commit(&mut chain, &mut batch, &mut segment, true);
    assert!(matches!(done, Committed::Failed(_, 2)), "{done:?}");
    assert_eq!(chain, head(7), "the chain on disk stays");
    assert_eq!(batch.chain, head(7), "what comes next continues from it");
    assert_eq!(answers(waits), [false, false]);
    assert_eq!(
        disk.0.lock().expect("disk").bytes,
        b"old\n",
        "partial line cut"
    );
    assert_eq!((segment.index, segment.size), (3, 4));
    assert!(segment.store.is_some());
}

#[test]
fn a_failed_sync_is_a_failed_commit() {
    let disk = Fake::default();
    let (mut chain, mut batch, mut segment, waits) = setup(&disk);
    disk.0.lock().expect("disk").fail_sync = true;
    let done = commit(&mut chain, &mut batch, &mut segment, true);
    assert!(matches!(done, Committed::Failed(_, 2)), "{done:?}");
    assert_eq!(chain, head(7));
    assert_eq!(answers(waits), [false, false]);
    assert_eq!(disk.0.lock().expect("disk").bytes, b"old\n");
}

#[test]
fn a_partial_line_that_cannot_be_cut_moves_on_to_the_next_segment() {
    let disk = Fake::default();
    let (mut chain, mut batch, mut segment, waits) = setup(&disk);
    {
        let mut d = disk.0.lock().expect("disk");
        d.fail_append_after = Some(5);
        d.fail_truncate = true;
    }
    commit(&mut chain, &mut batch, &mut segment, true);
    assert_eq!(answers(waits), [false, false]);
    assert!(segment.store.is_none(), "the damaged segment is given up");
    assert_eq!(segment.index, 4, "the next records go to the next file");
    // Until the writer opens it, commits fail and the chain still stays.
    batch.bytes.extend_from_slice(b"{\"seq\":8}\n");
    batch.records = 1;
    batch.chain = head(8);
    assert!(matches!(
        commit(&mut chain, &mut batch, &mut segment, true),
        Committed::Failed(_, 1)
    ));
    assert_eq!(chain, head(7));
}

#[test]
fn an_empty_batch_commits_nothing() {
    let disk = Fake::default();
    let chain0 = head(7);
    let mut chain = chain0.clone();
    let mut batch = Batch::after(&chain);
    let mut segment = Segment {
        store: Some(Box::new(disk.clone())),
        index: 1,
        size: 0,
    };
    assert!(matches!(
        commit(&mut chain, &mut batch, &mut segment, true),
        Committed::Empty
    ));
    assert_eq!(chain, chain0);
    assert_eq!(disk.0.lock().expect("disk").syncs, 0);
}
