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
use super::trail::{Line, WITNESS_FILE, trail_files};

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
    /// Request ids of intent records with no outcome after them (a crash in between), in
    /// trail order.
    pub dangling_intents: Vec<String>,
    /// The retention record that vouches for a trail not starting at seq 1, as its seq.
    pub vouched_by: Option<u64>,
    /// The last witnessed checkpoint the trail reaches, with `--witness`.
    pub witnessed_seq: Option<u64>,
}

/// How strictly to verify.
#[derive(Debug, Default, Clone, Copy)]
pub struct Options<'a> {
    /// Checkpoints must carry valid signatures by this key, and one must be present.
    pub key: Option<&'a VerifyingKey>,
    /// A trail that does not start at seq 1 must start where a retention record says
    /// (`audit verify`); off for reading a chosen part of a trail (`audit query`).
    pub require_start: bool,
    /// `audit.witness_dir`: the trail must reach its last checkpoint, hash for hash.
    pub witness: Option<&'a Path>,
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

/// Chain state while streaming.
struct State<'k> {
    key: Option<&'k VerifyingKey>,
    last_seq: Option<u64>,
    last_hash: String,
    report: Report,
    /// The first chained record: its seq, `prev`, file and line.
    start: Option<(u64, String, PathBuf, u64)>,
    /// (first_seq, first_prev) of every retention record, with its own seq.
    vouchers: Vec<(u64, String, u64)>,
    /// Intents waiting for their outcome: request id and seq.
    intents: std::collections::HashMap<String, u64>,
    /// Witnessed checkpoints: seq to record hash.
    witnessed: std::collections::HashMap<u64, String>,
    /// Where the line being checked is.
    at: (PathBuf, u64),
}

/// A witnessed checkpoint line.
#[derive(Deserialize)]
struct Witnessed {
    seq: u64,
    record_hash: String,
    #[serde(default)]
    signature: String,
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

/// Verifies the trail in `paths` as `audit verify` does; with `key`, checkpoints must carry
/// valid signatures and at least one must be present.
pub fn verify(paths: &[PathBuf], key: Option<&VerifyingKey>) -> Result<Report, Broken> {
    verify_with(
        paths,
        Options {
            key,
            require_start: true,
            witness: None,
        },
    )
}

/// Verifies the trail in `paths` with `opts`.
pub fn verify_with(paths: &[PathBuf], opts: Options<'_>) -> Result<Report, Broken> {
    let files = expand(paths)?;
    let mut st = State::new(opts.key);
    if let Some(dir) = opts.witness {
        st.read_witness(dir)?;
    }
    for (i, file) in files.iter().enumerate() {
        st.file(file, i + 1 == files.len())?;
        st.report.files += 1;
    }
    if let (Some(_), 0, Some(last)) = (opts.key, st.report.checkpoints, files.last()) {
        return Err(Broken {
            file: last.clone(),
            line: 0,
            why: "missing signature: no signed checkpoint in the trail".into(),
        });
    }
    st.finish(opts, files.last())
}

/// Verifies trail bytes held in memory, as [`verify`] does for one file (used by the fuzzer).
pub fn verify_bytes(data: &[u8], key: Option<&VerifyingKey>) -> Result<Report, Broken> {
    let mut st = State::new(key);
    st.lines(Path::new("<memory>"), data, true)?;
    st.report.files = 1;
    st.finish(Options::default(), None)
}

// === impl State ===

impl<'k> State<'k> {
    fn new(key: Option<&'k VerifyingKey>) -> Self {
        Self {
            key,
            last_seq: None,
            last_hash: GENESIS.to_owned(),
            report: Report::default(),
            start: None,
            vouchers: Vec::new(),
            intents: std::collections::HashMap::new(),
            witnessed: std::collections::HashMap::new(),
            at: (PathBuf::new(), 0),
        }
    }

    /// Reads the witnessed checkpoints of `dir` (signatures checked with the key).
    fn read_witness(&mut self, dir: &Path) -> Result<(), Broken> {
        let path = dir.join(WITNESS_FILE);
        let broken = |line: u64, why: String| Broken {
            file: path.clone(),
            line,
            why,
        };
        let f = File::open(&path).map_err(|e| broken(0, e.to_string()))?;
        for (n, line) in BufReader::new(f).split(b'\n').enumerate() {
            let n = n as u64 + 1;
            let line = line.map_err(|e| broken(n, e.to_string()))?;
            let Ok(w) = serde_json::from_slice::<Witnessed>(&line) else {
                // A torn last line of the witness file (a crash mid-append) witnesses nothing.
                continue;
            };
            if let Some(key) = self.key
                && !signing::verify(key, w.seq, &w.record_hash, &w.signature)
            {
                return Err(broken(
                    n,
                    format!("bad signature on witnessed checkpoint for seq {}", w.seq),
                ));
            }
            self.witnessed.insert(w.seq, w.record_hash);
        }
        Ok(())
    }

    /// The checks that need the whole trail: its start, the witness, dangling intents.
    fn finish(mut self, opts: Options<'_>, last_file: Option<&PathBuf>) -> Result<Report, Broken> {
        if let Some((seq, prev, file, line)) = &self.start
            && *seq > 1
        {
            match self
                .vouchers
                .iter()
                .find(|(first, first_prev, _)| first == seq && first_prev == prev)
            {
                Some((_, _, by)) => self.report.vouched_by = Some(*by),
                None if opts.require_start => {
                    return Err(Broken {
                        file: file.clone(),
                        line: *line,
                        why: format!(
                            "the trail starts at seq {seq}, but no retention record vouches for the removal of seq 1 to {}: records were cut from the head",
                            seq - 1
                        ),
                    });
                }
                None => {}
            }
        }
        if let Some(&max) = self.witnessed.keys().max() {
            let reached = self.last_seq.unwrap_or(0);
            if reached < max {
                return Err(Broken {
                    file: last_file.cloned().unwrap_or_default(),
                    line: 0,
                    why: format!(
                        "the trail ends at seq {reached}, before the last witnessed checkpoint at seq {max}: records were cut from the tail"
                    ),
                });
            }
            self.report.witnessed_seq = Some(max);
        }
        let mut dangling: Vec<(u64, String)> = self
            .intents
            .into_iter()
            .map(|(id, seq)| (seq, id))
            .collect();
        dangling.sort();
        self.report.dangling_intents = dangling.into_iter().map(|(_, id)| id).collect();
        Ok(self.report)
    }

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
            self.at = (path.to_owned(), n);
            // `read_until` stops short of a newline only at the end of the file.
            let complete = buf.last() == Some(&b'\n');
            let line = if complete {
                &buf[..buf.len() - 1]
            } else {
                &buf[..]
            };
            // Zeros after the last record: a strict segment written through ahead of its
            // records, not sealed yet (the gateway runs, or stopped without closing it).
            if !complete && line.iter().all(|b| *b == 0) {
                return Ok(());
            }
            // Only a fragment is a torn write; a whole record without its newline verifies
            // like any other (a forged one appended at the tail is not excused).
            let whole = complete || serde_json::from_slice::<serde::de::IgnoredAny>(line).is_ok();
            if !whole {
                if last_file {
                    self.report.torn_tail = Some(format!("{}:{n}", path.display()));
                    return Ok(());
                }
                return Err(broken(
                    n,
                    "malformed line: incomplete line inside the trail".into(),
                ));
            }
            self.line(line).map_err(|why| broken(n, why))?;
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
        if self.start.is_none() {
            self.start = Some((line.seq, prev.to_owned(), self.at.0.clone(), self.at.1));
        }
        if let Some(want) = self.witnessed.get(&line.seq)
            && want != hash
        {
            return Err(format!(
                "record {} differs from the witnessed checkpoint's record hash",
                line.seq
            ));
        }
        match (line.kind, line.request_id) {
            ("intent", Some(id)) => {
                self.intents.insert(id.to_owned(), line.seq);
            }
            ("request", Some(id)) => {
                self.intents.remove(id);
            }
            ("retention", _) => {
                if let (Some(first), Some(first_prev)) = (line.first_seq, line.first_prev) {
                    self.vouchers.push((first, first_prev.to_owned(), line.seq));
                }
            }
            _ => {}
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
