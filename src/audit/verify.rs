//! `audit verify`: streams trail files and checks the chain, the sequence and checkpoints.
//!
//! Reports the first broken record by file and line; never loads a file into memory.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;
use serde::Deserialize;

use super::record::{GENESIS, chain_hash, split_hash};
use super::signing;
use super::writer::trail_files;

/// A trail that verified.
#[derive(Debug, Default)]
pub struct Report {
    /// Chained records checked.
    pub records: u64,
    /// First and last sequence numbers.
    pub first_seq: Option<u64>,
    /// Last sequence number.
    pub last_seq: Option<u64>,
    /// First record time.
    pub first_ts: Option<String>,
    /// Last record time.
    pub last_ts: Option<String>,
    /// Checkpoints whose chain position matched (and signature, with a key).
    pub checkpoints: u64,
    /// Sequence number of the last checkpoint.
    pub last_checkpoint_seq: Option<u64>,
    /// Files read.
    pub files: usize,
    /// A torn final line (a crash mid-write, never acknowledged), if any.
    pub torn_tail: Option<String>,
}

/// The first broken record.
#[derive(Debug, thiserror::Error)]
#[error("{}:{line}: {why}", file.display())]
pub struct Broken {
    /// The file.
    pub file: PathBuf,
    /// 1-based line number (0 when the file could not be read at all).
    pub line: u64,
    /// What is wrong.
    pub why: String,
}

#[derive(Deserialize)]
struct Line<'a> {
    kind: &'a str,
    seq: u64,
    #[serde(default)]
    ts: Option<&'a str>,
    #[serde(default)]
    prev: Option<&'a str>,
    #[serde(default)]
    hash: Option<&'a str>,
    #[serde(default)]
    record_hash: Option<&'a str>,
    #[serde(default)]
    signature: Option<&'a str>,
}

/// Chain state while streaming.
struct State<'k> {
    key: Option<&'k VerifyingKey>,
    last_seq: Option<u64>,
    last_hash: String,
    report: Report,
}

/// Trail files named by `paths` (files, or folders holding `audit-*.jsonl`), in chain order.
pub(super) fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Broken> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let found = trail_files(p).map_err(|e| Broken {
                file: p.clone(),
                line: 0,
                why: e.to_string(),
            })?;
            files.extend(found.into_iter().map(|(_, f)| f));
        } else {
            files.push(p.clone());
        }
    }
    Ok(files)
}

/// Verifies the trail in `paths`; with `key`, checkpoints must carry valid signatures and
/// at least one must be present.
pub fn verify(paths: &[PathBuf], key: Option<&VerifyingKey>) -> Result<Report, Broken> {
    let files = expand(paths)?;
    let mut st = State {
        key,
        last_seq: None,
        last_hash: GENESIS.to_owned(),
        report: Report::default(),
    };
    for (i, file) in files.iter().enumerate() {
        st.file(file, i + 1 == files.len())?;
        st.report.files += 1;
    }
    if let (Some(_), 0, Some(last)) = (key, st.report.checkpoints, files.last()) {
        return Err(Broken {
            file: last.clone(),
            line: 0,
            why: "missing signature: no signed checkpoint in the trail".into(),
        });
    }
    Ok(st.report)
}

/// Verifies trail bytes held in memory, as [`verify`] does for one file (used by the fuzzer).
pub fn verify_bytes(data: &[u8], key: Option<&VerifyingKey>) -> Result<Report, Broken> {
    let mut st = State {
        key,
        last_seq: None,
        last_hash: GENESIS.to_owned(),
        report: Report::default(),
    };
    st.lines(Path::new("<memory>"), data, true)?;
    st.report.files = 1;
    Ok(st.report)
}

// === impl State ===

impl State<'_> {
    fn file(&mut self, path: &Path, last_file: bool) -> Result<(), Broken> {
        let broken = |line: u64, why: String| Broken {
            file: path.to_owned(),
            line,
            why,
        };
        let f = File::open(path).map_err(|e| broken(0, e.to_string()))?;
        self.lines(path, BufReader::with_capacity(256 * 1024, f), last_file)
    }

    fn lines(
        &mut self,
        path: &Path,
        mut reader: impl BufRead,
        last_file: bool,
    ) -> Result<(), Broken> {
        let broken = |line: u64, why: String| Broken {
            file: path.to_owned(),
            line,
            why,
        };
        let mut buf = Vec::new();
        let mut n = 0u64;
        loop {
            buf.clear();
            let read = reader
                .read_until(b'\n', &mut buf)
                .map_err(|e| broken(n + 1, e.to_string()))?;
            if read == 0 {
                return Ok(());
            }
            n += 1;
            // `read_until` stops short of a newline only at the end of the file.
            if buf.last() != Some(&b'\n') {
                if last_file {
                    self.report.torn_tail = Some(format!("{}:{n}", path.display()));
                    return Ok(());
                }
                return Err(broken(
                    n,
                    "malformed line: incomplete line inside the trail".into(),
                ));
            }
            self.line(&buf[..buf.len() - 1])
                .map_err(|why| broken(n, why))?;
        }
    }

    fn line(&mut self, bytes: &[u8]) -> Result<(), String> {
        let line: Line<'_> =
            serde_json::from_slice(bytes).map_err(|e| format!("malformed line: {e}"))?;
        if line.kind == "checkpoint" {
            return self.checkpoint(&line);
        }
        let (canonical, hash) =
            split_hash(bytes).ok_or("malformed line: no trailing \"hash\" member")?;
        if line.hash != Some(hash) {
            return Err("malformed line: \"hash\" is not the last member".into());
        }
        let prev = line.prev.ok_or("malformed line: no \"prev\"")?;
        match self.last_seq {
            None if line.seq == 1 && prev != GENESIS => {
                return Err("bad prev: the first record must chain from the genesis hash".into());
            }
            None => {}
            Some(last) if line.seq == last + 1 && prev != self.last_hash => {
                return Err(format!("bad prev: {prev} is not the hash of record {last}"));
            }
            Some(last) if line.seq == last + 1 => {}
            Some(last) if line.seq <= last => {
                return Err(format!("reordering: seq {} after seq {last}", line.seq));
            }
            Some(last) => {
                return Err(format!(
                    "seq gap: expected {}, found {}",
                    last + 1,
                    line.seq
                ));
            }
        }
        if chain_hash(prev, &canonical) != hash {
            return Err(format!(
                "hash mismatch: record {} was changed after it was written",
                line.seq
            ));
        }
        let r = &mut self.report;
        r.records += 1;
        r.first_seq.get_or_insert(line.seq);
        r.last_seq = Some(line.seq);
        if let Some(ts) = line.ts {
            if r.first_ts.is_none() {
                r.first_ts = Some(ts.to_owned());
            }
            r.last_ts = Some(ts.to_owned());
        }
        self.last_seq = Some(line.seq);
        hash.clone_into(&mut self.last_hash);
        Ok(())
    }

    fn checkpoint(&mut self, line: &Line<'_>) -> Result<(), String> {
        let covered = line
            .record_hash
            .ok_or("malformed checkpoint: no record_hash")?;
        if self.last_seq != Some(line.seq) || covered != self.last_hash {
            return Err(format!(
                "checkpoint for seq {} does not match the chain (last record is {}): records were cut or changed",
                line.seq,
                self.last_seq.map_or("none".into(), |s| s.to_string())
            ));
        }
        if let Some(key) = self.key {
            let sig = line.signature.unwrap_or_default();
            if sig.is_empty() {
                return Err("missing signature on checkpoint".into());
            }
            if !signing::verify(key, line.seq, covered, sig) {
                return Err(format!("bad signature on checkpoint for seq {}", line.seq));
            }
        }
        self.report.checkpoints += 1;
        self.report.last_checkpoint_seq = Some(line.seq);
        Ok(())
    }
}
