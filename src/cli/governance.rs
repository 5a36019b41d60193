//! `diff`, `approve`, and what `check` says about governance: reviews coming due, and whether a
//! configuration would be accepted against the approvals folder.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use crate::approvals;
use crate::config;
use crate::governance::approval::Subject;
use crate::governance::model::Model;
use crate::governance::{Body, REVIEW_WARNING};
use crate::snapshot::Snapshot;

/// Keys that expired, or expire within 30 days: rotate them before partners are locked out.
fn key_warnings(snap: &Snapshot, now: SystemTime) -> Vec<String> {
    let mut out = Vec::new();
    for (partner, p) in &snap.model.partners {
        for (id, key) in p.keys.iter().filter(|(_, k)| !k.revoked) {
            let Some(expires) = key.expires else { continue };
            match expires.0.duration_since(now) {
                Err(_) => out.push(format!(
                    "warning: partner {partner} key {id}: expired on {expires}"
                )),
                Ok(left) if left <= REVIEW_WARNING => out.push(format!(
                    "warning: partner {partner} key {id}: expires {expires} (in {} days); give the partner a new key (`kwanus-gateway keygen --partner {partner}`) before then",
                    left.as_secs() / 86_400
                )),
                Ok(_) => {}
            }
        }
    }
    out
}

/// `diff OLD NEW [--json]`: exit 0 when nothing governance-relevant changed, 1 when something
/// did, 2 on error.
pub(super) fn diff(old: &Path, new: &Path, json: bool) -> ExitCode {
    let (mut a, mut b) = match (view(old), view(new)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("diff: {e}");
            return ExitCode::from(2);
        }
    };
    let b_model = b.model.clone();
    let mut not_compared = a.compare_unread_as(&b_model);
    not_compared.extend(b.compare_unread_as(&a.model));
    for what in &not_compared {
        eprintln!("note: not compared (not readable here): {what}");
    }
    let (subject, diff) = Subject::of(Some(&a.model), &b.model, 0);
    let needs = diff.needing_approval().count();
    if json {
        let out = serde_json::json!({
            "old": old.display().to_string(),
            "new": new.display().to_string(),
            "old_sha256": hex::encode(subject.old),
            "new_sha256": hex::encode(subject.new),
            "diff_sha256": hex::encode(subject.diff),
            "needs_approval": needs > 0,
            "changes": diff.changes.iter().map(|c| {
                let mut v = serde_json::to_value(c).unwrap_or_default();
                v["needs_approval"] = c.needs_approval().into();
                v
            }).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else if diff.is_empty() {
        println!("no governance-relevant change");
    } else {
        for line in diff.summary(usize::MAX) {
            println!("{line}");
        }
        println!(
            "{} change(s); {needs} widen access (+) and need approval by a majority of TSC, SCO, ERC and CGB, CGB included; the others (-) need none",
            diff.changes.len()
        );
    }
    ExitCode::from(u8::from(!diff.is_empty()))
}

/// The governance view of `path`: an approvals folder's `approved.json` (the view as
/// approved), or a configuration file read without compiling it.
pub(super) fn view(path: &Path) -> Result<config::View, String> {
    if path.extension().is_some_and(|e| e == "json") {
        return approvals::read_approved_json(path)
            .map(config::View::approved)
            .map_err(|e| format!("{}: {e}", path.display()));
    }
    config::governance_view(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// What `approve` is asked to sign.
pub(super) struct ApproveArgs {
    pub(super) body: String,
    pub(super) key: PathBuf,
    pub(super) approvals: PathBuf,
    pub(super) genesis: bool,
    pub(super) files: Vec<PathBuf>,
}

/// `approve --body B --key K --approvals DIR OLD NEW` (or `--genesis ... NEW`): signs the change
/// and writes the signature into DIR.
pub(super) fn approve(a: ApproveArgs) -> ExitCode {
    let Some(body) = Body::parse(&a.body) else {
        eprintln!("approve: --body must be one of TSC, SCO, ERC, CGB");
        return ExitCode::from(super::EX_USAGE);
    };
    let (old_path, new_path) = match (a.genesis, a.files.as_slice()) {
        (true, [new]) => (None, new),
        (false, [old, new]) => (Some(old), new),
        _ => {
            eprintln!("approve: give OLD and NEW, or --genesis and NEW");
            return ExitCode::from(super::EX_USAGE);
        }
    };
    let new = match config::load(new_path) {
        Ok(s) => s,
        Err(e) => {
            super::report(new_path, &e);
            return ExitCode::from(2);
        }
    };
    let old: Option<Model> = match old_path.map(|p| old_model(p, &a.approvals)) {
        None => None,
        Some(Ok(m)) => Some(m),
        Some(Err(e)) => {
            eprintln!("approve: {e}");
            return ExitCode::from(2);
        }
    };
    let key = match crate::audit::load_signing_key(&a.key) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("approve: {e}");
            return ExitCode::from(2);
        }
    };
    let generation = match approvals::generation(&a.approvals) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("approve: {e}");
            return ExitCode::from(2);
        }
    };
    let (subject, diff) = Subject::of(old.as_ref(), &new.model, generation);
    let approval = subject.sign(body, &key, &diff);
    match approvals::write_approval(&a.approvals, &approval) {
        Ok(path) => {
            println!(
                "{} approves {} change(s):",
                body.as_str(),
                diff.changes.len()
            );
            for line in diff.summary(usize::MAX) {
                println!("  {line}");
            }
            println!("signature written to {}", path.display());
            if a.genesis {
                return make_genesis_copy(&a.approvals, &new);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("approve: {}: {e}", a.approvals.display());
            ExitCode::from(2)
        }
    }
}

/// Once a genesis has its quorum, NEW becomes the approved copy, so the next change is
/// checked against it before any gateway has run.
fn make_genesis_copy(dir: &Path, new: &Snapshot) -> ExitCode {
    let gate = match approvals::check(dir, &new.model) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("approve: {e}");
            return ExitCode::from(2);
        }
    };
    if !gate.genesis {
        println!("the folder has an approved copy already; this genesis approval changes nothing");
        return ExitCode::SUCCESS;
    }
    if !gate.accepted() {
        println!("genesis not yet approved: {}", gate.refusal());
        return ExitCode::SUCCESS;
    }
    match approvals::write_approved(dir, &new.source, &new.model, &gate.verdict.signers) {
        Ok(done) => {
            let by: Vec<&str> = done.signers.iter().map(|s| s.body.as_str()).collect();
            println!(
                "genesis approved by {}: the approved copy is written (generation {})",
                by.join(", "),
                done.generation
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("approve: {}: {e}", dir.display());
            ExitCode::from(2)
        }
    }
}

/// The governance view of OLD: the approvals folder's own (as approved, with the content
/// hashes of the files it named) when OLD is its approved copy; else OLD loaded like any file.
fn old_model(path: &Path, dir: &Path) -> Result<Model, String> {
    let approved = dir.join(approvals::APPROVED);
    let same = |a: &Path, b: &Path| matches!((std::fs::canonicalize(a), std::fs::canonicalize(b)), (Ok(x), Ok(y)) if x == y);
    if same(path, &approved) {
        return approvals::approved_model(dir)?
            .ok_or_else(|| format!("{}: no approved copy", dir.display()));
    }
    config::load(path)
        .map(|s| (*s.model).clone())
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// `check --approvals DIR`: whether `snap` would be accepted against the copy in DIR.
pub(super) fn check_approvals(snap: &Snapshot, dir: &Path) -> ExitCode {
    match approvals::check(dir, &snap.model) {
        Ok(gate) if gate.accepted() => {
            let what = if gate.diff.needing_approval().next().is_none() {
                "it widens nothing".to_owned()
            } else {
                let by: Vec<&str> = gate
                    .verdict
                    .approved_by
                    .iter()
                    .map(|b| b.as_str())
                    .collect();
                format!("approved by {}", by.join(", "))
            };
            println!("approvals: accepted against {} ({what})", dir.display());
            ExitCode::SUCCESS
        }
        Ok(gate) => {
            eprintln!(
                "approvals: refused against {}: {}",
                dir.display(),
                gate.refusal()
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("approvals: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Warnings for grants whose review is overdue or due within 30 days.
pub(super) fn review_warnings(snap: &Snapshot, now: SystemTime) -> Vec<String> {
    let mut out = key_warnings(snap, now);
    for record in &snap.partner_records {
        for (grant, due) in record.reviews() {
            let Some(due) = due else { continue };
            let date = humantime::format_rfc3339_seconds(due);
            match due.duration_since(now) {
                Err(_) => out.push(format!(
                    "warning: partner {} grant {}: review overdue since {date}",
                    record.id, grant.name
                )),
                Ok(left) if left <= REVIEW_WARNING => out.push(format!(
                    "warning: partner {} grant {}: review due {date} (in {} days)",
                    record.id,
                    grant.name,
                    left.as_secs() / 86_400
                )),
                Ok(_) => {}
            }
        }
    }
    out
}
