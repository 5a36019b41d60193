//! The trail on disk: file names and listing, opening for append, syncing, where the chain
//! stands (resume, first and last records), and the one parser of trail lines that the writer,
//! retention and `verify` share.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::record::GENESIS;

/// The file in `audit.witness_dir` that every signed checkpoint is appended to.
pub(super) const WITNESS_FILE: &str = "checkpoints.jsonl";
/// One trail line as every reader of the trail parses it (writer resume, verify, retention):
/// the fields that chain, order and vouch; the rest of a record is not read here.
#[derive(Deserialize)]
pub(super) struct Line<'a> {
    pub(super) kind: &'a str,
    pub(super) seq: u64,
    #[serde(default)]
    pub(super) request_id: Option<&'a str>,
    #[serde(default)]
    pub(super) first_seq: Option<u64>,
    #[serde(default)]
    pub(super) first_prev: Option<&'a str>,
    #[serde(default)]
    pub(super) ts: Option<&'a str>,
    #[serde(default)]
    pub(super) prev: Option<&'a str>,
    #[serde(default)]
    pub(super) hash: Option<&'a str>,
    #[serde(default)]
    pub(super) record_hash: Option<&'a str>,
    #[serde(default)]
    pub(super) signature: Option<&'a str>,
}

/// Where the trail of `dir` stands on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Resume {
    pub(super) index: u64,
    pub(super) seq: u64,
    pub(super) prev: String,
}

/// The file name of trail file `index`.
pub fn file_name(index: u64) -> String {
    format!("audit-{index:06}.jsonl")
}

/// Trail files in `dir`, by index.
pub fn trail_files(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if !entry.file_type()?.is_file() {
            continue;
        }
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let index = name
            .strip_prefix("audit-")
            .and_then(|n| n.strip_suffix(".jsonl"))
            .and_then(|n| n.parse().ok());
        if let Some(index) = index {
            out.push((index, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

pub(super) fn open_append(path: &Path) -> std::io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

pub(super) fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Finds the last complete record on disk, cutting a torn final line (a crash mid-write:
/// never acknowledged) off the last file.
pub(super) fn resume(dir: &Path) -> std::io::Result<Resume> {
    let files = trail_files(dir)?;
    let Some((last_index, _)) = files.last().cloned() else {
        return Ok(Resume {
            index: 1,
            seq: 0,
            prev: GENESIS.to_owned(),
        });
    };
    for (i, (index, path)) in files.iter().enumerate().rev() {
        let (found, complete_len, total) = last_record(path)?;
        if i + 1 == files.len() && complete_len < total {
            let file = OpenOptions::new().read(true).write(true).open(path)?;
            let mut tail = vec![0u8; (total - complete_len) as usize];
            std::os::unix::fs::FileExt::read_exact_at(&file, &mut tail, complete_len)?;
            // Zeros are a strict segment's write-ahead, not a torn record.
            if tail.iter().any(|b| *b != 0) {
                tracing::warn!(file = %path.display(), bytes = total - complete_len, "audit: cutting a torn final line");
            }
            file.set_len(complete_len)?;
        }
        if let Some((seq, prev)) = found {
            return Ok(Resume {
                index: last_index.max(*index),
                seq,
                prev,
            });
        }
    }
    Ok(Resume {
        index: last_index,
        seq: 0,
        prev: GENESIS.to_owned(),
    })
}

/// The (seq, prev) of the first chained record of a file, if it has one.
pub(super) fn first_record(path: &Path) -> std::io::Result<Option<(u64, String)>> {
    let reader = BufReader::new(File::open(path)?);
    for line in reader.split(b'\n') {
        let line = line?;
        if let Ok(Line {
            kind,
            seq,
            prev: Some(prev),
            ..
        }) = serde_json::from_slice::<Line<'_>>(&line)
            && kind != "checkpoint"
        {
            return Ok(Some((seq, prev.to_owned())));
        }
    }
    Ok(None)
}

/// The (seq, hash) of the last chained record of a file, the length up to its last newline,
/// and its total length.
#[allow(clippy::type_complexity)]
fn last_record(path: &Path) -> std::io::Result<(Option<(u64, String)>, u64, u64)> {
    let mut reader = BufReader::new(File::open(path)?);
    let mut line = Vec::new();
    let mut complete = 0u64;
    let mut total = 0u64;
    let mut found = None;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if line.last() != Some(&b'\n') {
            break;
        }
        complete = total;
        if let Ok(Line {
            kind,
            seq,
            hash: Some(hash),
            ..
        }) = serde_json::from_slice::<Line<'_>>(&line)
            && kind != "checkpoint"
        {
            found = Some((seq, hash.to_owned()));
        }
    }
    Ok((found, complete, total))
}
