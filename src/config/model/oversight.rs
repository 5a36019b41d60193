//! The view of `[governance]` and its misuse detector: each field governed or operational.

use std::collections::BTreeMap;

use super::{Fields, gov, ranked, secs, set, sorted};
use crate::config::file;
use crate::governance::model::{GovernanceModel, Model, Wider};

pub(super) fn governance_view(m: &mut Model, t: &mut Fields, g: Option<&file::Governance>) {
    let Some(g) = g else {
        m.governance = GovernanceModel::default();
        misuse_view(m, t, None);
        return;
    };
    // The defaults applied (on with the bodies' keys listed), as the gateway runs them.
    let (enforce, metadata) = (g.enforces_approvals(), g.requires_grant_metadata());
    let file::Governance {
        require_grant_metadata,
        enforce_approvals,
        approvals_dir,
        bodies,
        misuse,
    } = g;
    gov(t, "governance.enforce_approvals", enforce_approvals);
    gov(
        t,
        "governance.require_grant_metadata",
        require_grant_metadata,
    );
    m.governance = GovernanceModel {
        enforce_approvals: enforce,
        approvals_dir: gov(t, "governance.approvals_dir", approvals_dir).clone(),
        require_grant_metadata: metadata,
        bodies: gov(t, "governance.bodies", bodies)
            .iter()
            .map(|(b, keys)| {
                (
                    b.clone(),
                    keys.iter().map(|k| k.trim().to_ascii_lowercase()).collect(),
                )
            })
            .collect::<BTreeMap<_, _>>(),
    };
    misuse_view(m, t, misuse.as_ref());
}

/// `[governance.misuse]`: automatic suspension, on or off, and how strict.
fn misuse_view(m: &mut Model, t: &mut Fields, misuse: Option<&file::Misuse>) {
    let misuse = misuse.map(|mi| {
        let file::Misuse {
            threshold,
            window,
            suspend_for,
            codes,
        } = mi;
        (
            gov(t, "governance.misuse.threshold", threshold).to_string(),
            secs(gov(t, "governance.misuse.window", window)),
            secs(gov(t, "governance.misuse.suspend_for", suspend_for)),
            gov(t, "governance.misuse.codes", codes)
                .as_ref()
                .map_or_else(|| "default".into(), |c| sorted(c).join(",")),
        )
    });
    let (threshold, window, suspend_for, codes) = match misuse {
        Some((a, b, c, d)) => (Some(a), Some(b), Some(c), Some(d)),
        None => (None, None, None, None),
    };
    set(
        m,
        "governance.misuse".into(),
        Some(if threshold.is_some() { "on" } else { "off" }.into()),
        ranked(&["on", "off"]),
    );
    set(
        m,
        "governance.misuse.threshold".into(),
        threshold,
        Wider::Higher,
    );
    set(m, "governance.misuse.window".into(), window, Wider::Lower);
    set(
        m,
        "governance.misuse.suspend_for".into(),
        suspend_for,
        Wider::Lower,
    );
    set(m, "governance.misuse.codes".into(), codes, Wider::Any);
}
