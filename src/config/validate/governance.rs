//! `[governance]` and grant metadata: justifications, approving bodies, tickets, review dates,
//! the bodies' keys, the approvals folder and misuse detection.

use std::path::PathBuf;

use super::{Problems, file};
use crate::governance::{Body, Grant, MisuseSettings, Settings};
use crate::model::Fault;

/// The largest misuse threshold (each partner keeps at most this many denial times).
const MAX_MISUSE_THRESHOLD: u32 = 10_000;

/// The codes the misuse detector counts unless `codes` says otherwise.
const MISUSE_CODES: [&str; 2] = ["permission_denied", "forbidden_route"];

/// Compiles `[governance]`.
pub(super) fn compile_governance(p: &mut Problems, g: Option<file::Governance>) -> Settings {
    let Some(g) = g else {
        return Settings::default();
    };
    // With the bodies' keys listed, governance is on unless the file says otherwise.
    let (enforce, metadata) = (g.enforces_approvals(), g.requires_grant_metadata());
    let file::Governance {
        require_grant_metadata,
        enforce_approvals,
        approvals_dir,
        bodies,
        misuse,
    } = g;
    let mut keys = std::collections::BTreeMap::new();
    let mut seen = std::collections::HashMap::new();
    for (name, list) in bodies {
        let place = format!("governance.bodies.{name}");
        let Some(body) = Body::parse(&name) else {
            p.bad(place, &name, "one of TSC, SCO, ERC, CGB");
            continue;
        };
        let mut out = Vec::new();
        for (i, hex_key) in list.iter().enumerate() {
            let mut k = [0u8; 32];
            let valid = hex::decode_to_slice(hex_key.trim(), &mut k).is_ok()
                && ed25519_dalek::VerifyingKey::from_bytes(&k).is_ok();
            if valid
                && !p.unique(
                    &mut seen,
                    "body key",
                    &hex::encode(k),
                    format!("{place}[{i}]"),
                )
            {
                continue; // one key, one body: a signature must not count twice
            }
            if valid {
                out.push(k);
            } else {
                p.bad(
                    format!("{place}[{i}]"),
                    hex_key,
                    "an Ed25519 public key as 64 hex digits",
                );
            }
        }
        keys.insert(body, out);
    }
    let _ = (enforce_approvals, require_grant_metadata); // read through `enforce`, `metadata`
    if enforce {
        if approvals_dir.is_none() {
            p.bad(
                "governance.approvals_dir",
                "",
                "approvals are enforced (the bodies' keys are listed): add approvals_dir = \"approvals\" (the folder of the signatures and the approved copy), or enforce_approvals = false",
            );
        }
        if keys.get(&Body::Cgb).is_none_or(Vec::is_empty) {
            p.bad(
                "governance.bodies.CGB",
                "",
                "enforce_approvals needs the keys of the bodies, CGB's at least (its approval is always required)",
            );
        }
    }
    let misuse = misuse.and_then(|m| {
        let file::Misuse {
            threshold,
            window,
            suspend_for,
            codes,
        } = m;
        if threshold == 0 || threshold > MAX_MISUSE_THRESHOLD {
            p.bad(
                "governance.misuse.threshold",
                &threshold.to_string(),
                format!("must be between 1 and {MAX_MISUSE_THRESHOLD}"),
            );
        }
        let window = p.duration("governance.misuse.window", &window);
        let suspend_for = p.duration("governance.misuse.suspend_for", &suspend_for);
        let codes = codes.unwrap_or_else(|| MISUSE_CODES.map(str::to_owned).to_vec());
        for (i, code) in codes.iter().enumerate() {
            let place = format!("governance.misuse.codes[{i}]");
            match crate::model::fault_of(code) {
                Some(Fault::Partner) => {}
                Some(_) => p.bad(
                    place,
                    code,
                    "is the gateway's or the upstream's fault, never the partner's: remove it",
                ),
                None => p.bad(
                    place,
                    code,
                    "not an error code the gateway answers with (e.g. permission_denied, forbidden_route)",
                ),
            }
        }
        Some(MisuseSettings {
            threshold: (1..=MAX_MISUSE_THRESHOLD)
                .contains(&threshold)
                .then_some(threshold)?,
            window: window?,
            suspend_for: suspend_for?,
            codes,
        })
    });
    Settings {
        require_grant_metadata: metadata,
        enforce_approvals: enforce,
        approvals_dir: approvals_dir.map(|d| std::path::absolute(&d).unwrap_or(PathBuf::from(d))),
        bodies: keys,
        misuse,
    }
}

/// A partner's grants with their metadata; with `require_grant_metadata`, every grant is a
/// table with a justification, at least one approving body and a review date.
pub(super) fn compile_grants(
    p: &mut Problems,
    place: &str,
    held: &[file::Grant],
    required: bool,
) -> Vec<Grant> {
    let mut out = Vec::with_capacity(held.len());
    for (j, g) in held.iter().enumerate() {
        let gplace = format!("{place}.permissions[{j}]");
        let grant = match g {
            file::Grant::Name(name) => {
                if required {
                    p.bad(
                        &gplace,
                        name,
                        "governance.require_grant_metadata: write the grant as a table, e.g. { name = \"...\", justification = \"...\", approved_by = [\"SCO\", \"CGB\"], ticket = \"GOV-1\", review_due = 2027-05-01 }",
                    );
                }
                Grant {
                    name: name.as_str().into(),
                    justification: None,
                    approved_by: Vec::new(),
                    ticket: None,
                    review_due: None,
                }
            }
            file::Grant::Table(t) => {
                let mut approved_by = Vec::new();
                for (k, b) in t.approved_by.iter().enumerate() {
                    match Body::parse(b) {
                        Some(b) => approved_by.push(b),
                        None => p.bad(
                            format!("{gplace}.approved_by[{k}]"),
                            b,
                            "one of TSC, SCO, ERC, CGB",
                        ),
                    }
                }
                let review_due = t
                    .review_due
                    .as_ref()
                    .and_then(|d| p.date(&format!("{gplace}.review_due"), d));
                if required {
                    let missing: Vec<&str> = [
                        (
                            "justification",
                            t.justification
                                .as_deref()
                                .is_none_or(|j| j.trim().is_empty()),
                        ),
                        ("approved_by", t.approved_by.is_empty()),
                        ("review_due", t.review_due.is_none()),
                    ]
                    .into_iter()
                    .filter_map(|(f, missing)| missing.then_some(f))
                    .collect();
                    if !missing.is_empty() {
                        p.bad(
                            &gplace,
                            &t.name,
                            format!(
                                "governance.require_grant_metadata: the grant needs {}",
                                missing.join(", ")
                            ),
                        );
                    }
                }
                Grant {
                    name: t.name.as_str().into(),
                    justification: t.justification.clone(),
                    approved_by,
                    ticket: t.ticket.clone(),
                    review_due,
                }
            }
        };
        out.push(grant);
    }
    out
}
