//! The approvals folder (`[governance] approvals_dir`): the last approved configuration
//! (`approved.toml`) and the bodies' signatures (`signatures/*.json`), and the gate every start
//! and reload passes when `enforce_approvals` is on: the change from the approved copy to the
//! new file takes effect only if it narrows access or carries its signatures.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::governance::Body;
use crate::governance::approval::{Approval, Signer, Subject, Verdict, keys_of};
use crate::governance::diff::{Change, Diff};
use crate::governance::model::Model;
use crate::snapshot::Snapshot;

/// The last approved configuration, in the approvals folder.
pub const APPROVED: &str = "approved.toml";
/// Its governance view as it was approved (with the content hashes of the files it named).
pub const APPROVED_MODEL: &str = "approved.json";
/// The folder of signatures, in the approvals folder.
pub const SIGNATURES: &str = "signatures";

/// A change checked against the approvals folder.
#[derive(Debug)]
pub struct Gate {
    dir: PathBuf,
    /// The folder the new configuration names, when it moves the approvals there.
    moved_to: Option<PathBuf>,
    /// No approved copy yet: the change is the genesis.
    pub genesis: bool,
    /// What the change does.
    pub diff: Diff,
    /// Who approved it, and whether that is enough.
    pub verdict: Verdict,
    /// Grants whose `approved_by` names a body that did not sign this change.
    pub false_claims: Vec<String>,
    /// The folder's generation the change applies to.
    pub generation: u64,
}

/// What made a configuration acceptable, for its record in the trail: the approvals folder's
/// generation, the approved governance view's hash, and the signers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Approved {
    /// The folder's generation once the change is the approved copy.
    pub generation: u64,
    /// SHA-256 (hex) of the approved governance view.
    pub governance_sha256: String,
    /// The signatures that made it acceptable (none for a change that widens nothing; those
    /// that approved the copy in force when it is unchanged).
    pub signers: Vec<Signer>,
}

// === impl Gate ===

impl Gate {
    /// Whether the change may take effect: approved as needed, and no grant claims an
    /// approval that was not given.
    pub fn accepted(&self) -> bool {
        self.verdict.accepted() && self.false_claims.is_empty()
    }

    /// Why it may not, for the log, the trail and `check`.
    pub fn refusal(&self) -> String {
        if self.verdict.accepted() {
            return format!(
                "approvals claimed falsely: {}",
                self.false_claims.join("; ")
            );
        }
        let mut out = format!(
            "unapproved {}: {}",
            if self.genesis {
                "genesis (no approved copy yet)"
            } else {
                "change"
            },
            self.verdict.missing()
        );
        for c in self.diff.needing_approval().take(8) {
            out.push_str(&format!("; needs approval: {}", c.line()));
        }
        for i in &self.verdict.invalid {
            out.push_str(&format!("; rejected signature: {i}"));
        }
        for c in &self.false_claims {
            out.push_str(&format!("; {c}"));
        }
        out
    }

    /// Makes `source` (whose governance view is `model`) the approved copy — in the folder in
    /// force, and in the folder the new configuration names if that is another (an approved
    /// move), so the next change is judged against it there, never as a new genesis.
    pub fn commit(&self, source: &str, model: &Model) -> std::io::Result<Approved> {
        let signers = self.signers_in_force()?;
        let approved = write_approved(&self.dir, source, model, &signers)?;
        if let Some(next) = &self.moved_to {
            write_approved(next, source, model, &signers)?;
        }
        Ok(approved)
    }

    /// The signers to record: this change's, or — when it changes nothing of governance —
    /// those that approved the copy in force.
    fn signers_in_force(&self) -> std::io::Result<Vec<Signer>> {
        if !self.verdict.signers.is_empty() || !self.diff.is_empty() {
            return Ok(self.verdict.signers.clone());
        }
        Ok(approved_copy(&self.dir)
            .map_err(std::io::Error::other)?
            .map(|c| c.signers)
            .unwrap_or_default())
    }
}

/// Checks `new` against the approvals folder in force; `Ok(None)` when approvals are not
/// enforced. Which folder is in force is never the new file's to say alone: a folder pinned on
/// the command line (`serve --approvals`) wins, then the running configuration's (so a reload
/// can neither move the folder nor turn enforcement off without approval), then the new
/// file's.
pub fn gate(
    new: &Snapshot,
    running: Option<&Snapshot>,
    pinned: Option<&Path>,
) -> Result<Option<Gate>, String> {
    let enforced = |s: &Snapshot| {
        s.governance
            .enforce_approvals
            .then(|| s.governance.approvals_dir.clone())
            .flatten()
    };
    let dir = pinned
        .map(Path::to_owned)
        .or_else(|| running.and_then(enforced))
        .or_else(|| enforced(new));
    let Some(dir) = dir else {
        return Ok(None);
    };
    // A running configuration stands in for a missing approved copy: only a first start
    // (nothing running) is a genesis that trusts the keys the file brings.
    let mut gate = check_against(&dir, &new.model, running.map(|r| &*r.model))?;
    gate.moved_to = enforced(new).filter(|d| *d != dir && pinned.is_none());
    Ok(Some(gate))
}

/// Checks the change from the approved copy in `dir` to `new` (for `check --approvals`).
pub fn check(dir: &Path, new: &Model) -> Result<Gate, String> {
    check_against(dir, new, None)
}

/// Checks the change from the approved copy in `dir` (or, without one, from `running`) to
/// `new`.
fn check_against(dir: &Path, new: &Model, running: Option<&Model>) -> Result<Gate, String> {
    let approved = approved_model(dir)?.or_else(|| running.cloned());
    let (subject, diff) = Subject::of(approved.as_ref(), new, generation(dir)?);
    // The keys that may approve are those of the configuration in force; only the genesis
    // trusts the keys it brings.
    let keys = keys_of(approved.as_ref().unwrap_or(new));
    let verdict = subject.verdict(&diff, &read_approvals(dir)?, &keys);
    let false_claims = false_claims(&diff, new, &verdict);
    Ok(Gate {
        dir: dir.to_owned(),
        moved_to: None,
        genesis: approved.is_none(),
        false_claims,
        generation: subject.generation,
        diff,
        verdict,
    })
}

/// Grants this change adds that name among their approvers a body which did not sign this
/// change, and grants whose `approved_by` this change extends to such a body.
fn false_claims(diff: &Diff, new: &Model, verdict: &Verdict) -> Vec<String> {
    let bodies = |list: Option<&String>| -> Vec<String> {
        list.map(|v| v.split(", ").map(str::to_owned).collect())
            .unwrap_or_default()
    };
    // (partner, grant) -> the bodies it claimed before this change.
    let mut grants: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for c in &diff.changes {
        match c {
            Change::GrantAdded {
                partner,
                permission,
            } => {
                grants.insert((partner.clone(), permission.clone()), Vec::new());
            }
            Change::PartnerAdded {
                partner, grants: g, ..
            } => grants.extend(g.iter().map(|p| ((partner.clone(), p.clone()), Vec::new()))),
            Change::NoteChanged { note, from, .. } => {
                let grant = note
                    .strip_prefix("partners.")
                    .and_then(|n| n.strip_suffix(".approved_by"))
                    .and_then(|n| n.split_once(".grants."));
                if let Some((p, g)) = grant {
                    grants
                        .entry((p.to_owned(), g.to_owned()))
                        .or_insert_with(|| bodies(from.as_ref()));
                }
            }
            _ => {}
        }
    }
    grants
        .into_iter()
        .filter_map(|((partner, grant), before)| {
            let note = format!("partners.{partner}.grants.{grant}.approved_by");
            let missing: Vec<String> = bodies(new.notes.get(&note))
                .into_iter()
                .filter(|b| !before.contains(b))
                .filter(|b| Body::parse(b).is_none_or(|b| !verdict.approved_by.contains(&b)))
                .collect();
            (!missing.is_empty()).then(|| {
                format!(
                    "partner {partner} grant {grant} claims approval by {}, which did not sign this change",
                    missing.join(", ")
                )
            })
        })
        .collect()
}

/// The approved copy's model (as approved, from `approved.json`; else read from the copy's
/// text); `None` before the genesis.
pub fn approved_model(dir: &Path) -> Result<Option<Model>, String> {
    if let Some(copy) = approved_copy(dir)? {
        return Ok(Some(copy.model));
    }
    let path = dir.join(APPROVED);
    match crate::files::read_to_string(&path) {
        Ok(text) => crate::config::model::of_text(&text)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// The folder's generation: 0 before the genesis, then raised by every accepted change of the
/// governance view.
pub fn generation(dir: &Path) -> Result<u64, String> {
    Ok(approved_copy(dir)?.map_or(0, |c| c.generation))
}

/// `approved.json`: the approved governance view, the folder's generation and who signed it.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct ApprovedCopy {
    generation: u64,
    model: Model,
    #[serde(default)]
    signers: Vec<Signer>,
}

/// The governance view in an `approved.json` (read anywhere: an officer's copy of the file).
pub fn read_approved_json(path: &Path) -> Result<Model, String> {
    let bytes = crate::files::read(path).map_err(|e| e.to_string())?;
    serde_json::from_slice::<ApprovedCopy>(&bytes)
        .map(|c| c.model)
        .map_err(|e| format!("not an approvals folder's approved.json: {e}"))
}

/// What the approved copy in `dir` says of itself, for a record (`None` before the genesis).
pub fn approved_info(dir: &Path) -> Result<Option<Approved>, String> {
    Ok(approved_copy(dir)?.map(|c| Approved {
        generation: c.generation,
        governance_sha256: hex::encode(c.model.sha256()),
        signers: c.signers,
    }))
}

fn approved_copy(dir: &Path) -> Result<Option<ApprovedCopy>, String> {
    let json = dir.join(APPROVED_MODEL);
    match crate::files::read(&json) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("{}: {e}", json.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", json.display())),
    }
}

/// Every approval in the folder (unreadable or malformed files are skipped with a warning).
pub fn read_approvals(dir: &Path) -> Result<Vec<Approval>, String> {
    let files = crate::files::list(&dir.join(SIGNATURES), ".json")
        .map_err(|e| format!("{}: {e}", dir.join(SIGNATURES).display()))?;
    Ok(files
        .iter()
        .filter_map(|f| {
            let parsed = crate::files::read(f)
                .ok()
                .and_then(|b| serde_json::from_slice::<Approval>(&b).ok());
            if parsed.is_none() {
                tracing::warn!(file = %f.display(), "not an approval; ignored");
            }
            parsed
        })
        .collect())
}

/// Writes one approval into the folder; returns its path.
pub fn write_approval(dir: &Path, a: &Approval) -> std::io::Result<PathBuf> {
    let folder = dir.join(SIGNATURES);
    std::fs::create_dir_all(&folder)?;
    let path = folder.join(format!(
        "g{}-{}-{}-{}-{}.json",
        a.generation,
        &a.new_sha256[..16],
        &a.old_sha256[..8],
        a.body,
        &a.public_key[..8]
    ));
    let mut text = serde_json::to_string_pretty(a).unwrap_or_default();
    text.push('\n');
    std::fs::write(&path, text)?;
    Ok(path)
}

/// Writes the approved copy and its model, each whole and then renamed into place (the model
/// last: a crash in between leaves the older model, which the next start compares against).
/// A changed governance view raises the folder's generation, so no signature is good twice.
pub fn write_approved(
    dir: &Path,
    source: &str,
    model: &Model,
    signers: &[Signer],
) -> std::io::Result<Approved> {
    std::fs::create_dir_all(dir)?;
    let current = approved_copy(dir).map_err(std::io::Error::other)?;
    let generation = match &current {
        None => 1,
        Some(c) if c.model == *model => c.generation,
        Some(c) => c.generation + 1,
    };
    let copy = ApprovedCopy {
        generation,
        model: model.clone(),
        signers: signers.to_vec(),
    };
    let approved = Approved {
        generation,
        governance_sha256: hex::encode(model.sha256()),
        signers: signers.to_vec(),
    };
    let json = serde_json::to_vec(&copy).map_err(std::io::Error::other)?;
    for (name, bytes) in [
        (APPROVED, source.as_bytes().to_vec()),
        (APPROVED_MODEL, json),
    ] {
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, dir.join(name))?;
    }
    Ok(approved)
}
