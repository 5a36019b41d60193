//! What a configuration change does to governance: per partner, permissions gained and lost,
//! tier and stage moves, keys; per route, who loses access; data classes and contracts. Each
//! change says whether it widens access (and so needs approval) or reduces it.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::model::{Model, StageName};

mod compare;
mod line;
mod pairs;
mod partner;

/// One governance-relevant change.
#[allow(
    missing_docs,
    reason = "the fields are the JSON output's names; each variant says what they mean"
)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// A new partner.
    PartnerAdded {
        partner: String,
        tier: i64,
        grants: Vec<String>,
    },
    /// A partner removed.
    PartnerRemoved { partner: String },
    /// A permission granted.
    GrantAdded { partner: String, permission: String },
    /// A permission taken away.
    GrantRemoved { partner: String, permission: String },
    /// A tier raised.
    TierRaised { partner: String, from: i64, to: i64 },
    /// A tier lowered.
    TierLowered { partner: String, from: i64, to: i64 },
    /// A stage moved; `backwards` when it moves back towards active.
    StageChanged {
        partner: String,
        from: String,
        to: String,
        backwards: bool,
    },
    /// A lifecycle date moved (sunset, compliance, suspension end); `extends` when the
    /// partner keeps access longer (a later or no sunset or compliance date, an earlier end of
    /// a suspension).
    DateChanged {
        partner: String,
        field: String,
        from: Option<String>,
        to: Option<String>,
        extends: bool,
    },
    /// A risk assessment changed.
    RiskChanged {
        partner: String,
        from: Option<String>,
        to: Option<String>,
    },
    /// A key added.
    KeyAdded { partner: String, key: String },
    /// A key revoked (or removed).
    KeyRevoked { partner: String, key: String },
    /// A revoked key made valid again.
    KeyRestored { partner: String, key: String },
    /// A key's expiry changed; `extends` when it is later (or gone).
    KeyExpiryChanged {
        partner: String,
        key: String,
        from: Option<String>,
        to: Option<String>,
        extends: bool,
    },
    /// A route added.
    RouteAdded { route: String, permission: String },
    /// A route removed: `losing` are the partners who could call it (a breaking change,
    /// which needs approval while the route's sunset, if any, has not passed).
    RouteRemoved {
        route: String,
        losing: Vec<String>,
        before_sunset: bool,
    },
    /// A route's permission changed: `losing` held the old one and not the new; `callers`
    /// hold the new one (their tokens' scopes, stage and tier are now judged by it: it needs
    /// approval unless nobody holds it).
    RoutePermissionChanged {
        route: String,
        from: String,
        to: String,
        losing: Vec<String>,
        callers: Vec<String>,
        before_sunset: bool,
    },
    /// A route's sunset (or deprecation date) set or moved; `earlier` when its callers may
    /// lose it sooner (a sunset set where there was none, or moved earlier): that needs the
    /// approval the removal itself would.
    RouteSunsetChanged {
        route: String,
        field: &'static str,
        from: Option<String>,
        to: Option<String>,
        earlier: bool,
    },
    /// A route's method, path or upstream changed.
    RouteTargetChanged {
        route: String,
        from: String,
        to: String,
    },
    /// A response contract or request schema changed; `loosened` when it lets more through.
    ContractChanged {
        route: String,
        detail: String,
        loosened: bool,
    },
    /// A data class added (fields newly withheld).
    DataClassAdded { class: String },
    /// A data class removed, its fields reaching partners again.
    DataClassRemoved { class: String },
    /// A data class's fields or receivers changed; `widened` when more may leave.
    DataClassChanged {
        class: String,
        detail: String,
        widened: bool,
    },
    /// A permission's kind changed, added or removed in the registry.
    PermissionChanged {
        permission: String,
        from: Option<String>,
        to: Option<String>,
    },
    /// `[governance]` itself changed; `widens` when it weakens the rules.
    GovernanceChanged { detail: String, widens: bool },
    /// A forbidden prefix or segment added or removed (`removed`: more is reachable).
    ForbiddenChanged {
        what: &'static str,
        value: String,
        removed: bool,
    },
    /// A partner's certificate binding loosened or tightened.
    MtlsChanged {
        partner: String,
        detail: String,
        loosened: bool,
    },
    /// A token issuer added, or the way its tokens are verified changed.
    IssuerChanged {
        issuer: String,
        detail: String,
        widens: bool,
    },
    /// An upstream's URL changed: every route to it now reaches another service.
    UpstreamMoved {
        upstream: String,
        from: String,
        to: String,
    },
    /// A setting that decides how much partners may do changed.
    SettingChanged {
        setting: String,
        from: Option<String>,
        to: Option<String>,
        widens: bool,
    },
    /// A partner may now (or no longer) be named by an issuer's tokens.
    PartnerIssuerChanged {
        partner: String,
        issuer: String,
        added: bool,
    },
    /// A justification, ticket, approver list or link changed: shown, never widening.
    NoteChanged {
        note: String,
        from: Option<String>,
        to: Option<String>,
    },
}

/// The changes from one configuration to another.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    /// Every change, partners first, then routes, data classes, the registry, governance.
    pub changes: Vec<Change>,
}

// === impl Change ===

impl Change {
    /// Whether the change widens access: such a change needs the approval of a majority of
    /// the governance bodies, CGB included. Reductions never need any.
    pub fn needs_approval(&self) -> bool {
        match self {
            // Credentials are access: a new key or issuer needs the quorum like a new grant.
            Self::PartnerAdded { .. }
            | Self::GrantAdded { .. }
            | Self::TierRaised { .. }
            | Self::KeyAdded { .. }
            | Self::KeyRestored { .. }
            | Self::RouteAdded { .. }
            | Self::RouteTargetChanged { .. }
            | Self::UpstreamMoved { .. }
            | Self::DataClassRemoved { .. } => true,
            // A new permission grants nothing until it is granted; one removed takes away.
            Self::PermissionChanged { from, to, .. } => from.is_some() && to.is_some(),
            // Partners lose a route before its sunset only with approval; after it, that is
            // a reduction. A permission its new callers hold widens access either way.
            Self::RoutePermissionChanged {
                callers,
                losing,
                before_sunset,
                ..
            } => !callers.is_empty() || (*before_sunset && !losing.is_empty()),
            Self::RouteRemoved {
                losing,
                before_sunset,
                ..
            } => *before_sunset && !losing.is_empty(),
            Self::RouteSunsetChanged { earlier, .. } => *earlier,
            Self::DateChanged { extends, .. } | Self::KeyExpiryChanged { extends, .. } => *extends,
            Self::IssuerChanged { widens, .. } | Self::SettingChanged { widens, .. } => *widens,
            Self::PartnerIssuerChanged { added, .. } => *added,
            Self::StageChanged { backwards, .. } => *backwards,
            Self::ContractChanged { loosened, .. } => *loosened,
            Self::DataClassChanged { widened, .. } => *widened,
            Self::GovernanceChanged { widens, .. } => *widens,
            Self::ForbiddenChanged { removed, .. } => *removed,
            Self::MtlsChanged { loosened, .. } => *loosened,
            Self::PartnerRemoved { .. }
            | Self::GrantRemoved { .. }
            | Self::TierLowered { .. }
            | Self::RiskChanged { .. }
            | Self::KeyRevoked { .. }
            | Self::DataClassAdded { .. }
            | Self::NoteChanged { .. } => false,
        }
    }
}

// === impl Diff ===

impl Diff {
    /// The changes from `old` to `new`, now (whether a route's sunset has passed decides
    /// whether taking it away is breaking).
    pub fn between(old: &Model, new: &Model) -> Self {
        Self::between_at(old, new, std::time::SystemTime::now())
    }

    /// The changes from `old` to `new`, at `now`.
    pub fn between_at(old: &Model, new: &Model, now: std::time::SystemTime) -> Self {
        let mut c = Vec::new();
        partner::partners(old, new, &mut c);
        compare::routes(old, new, now, &mut c);
        compare::classes(old, new, &mut c);
        compare::registry(old, new, &mut c);
        compare::governance(old, new, &mut c);
        compare::forbidden(old, new, &mut c);
        compare::issuers(old, new, &mut c);
        compare::settings(old, new, &mut c);
        compare::upstreams(old, new, &mut c);
        compare::notes(old, new, &mut c);
        Self { changes: c }
    }

    /// Whether nothing governance-relevant changed.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The changes that need approval.
    pub fn needing_approval(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| c.needs_approval())
    }

    /// SHA-256 of the changes' canonical JSON.
    pub fn sha256(&self) -> [u8; 32] {
        Sha256::digest(serde_json::to_vec(&self.changes).unwrap_or_default()).into()
    }

    /// At most `max` lines for a record, the rest counted.
    pub fn summary(&self, max: usize) -> Vec<String> {
        let mut out: Vec<String> = self
            .changes
            .iter()
            .take(max)
            .map(|c| {
                let mut l = format!(
                    "{}{}",
                    if c.needs_approval() { "+ " } else { "- " },
                    c.line()
                );
                if l.len() > 200 {
                    let mut end = 200;
                    while !l.is_char_boundary(end) {
                        end -= 1;
                    }
                    l.truncate(end);
                    l.push('…');
                }
                l
            })
            .collect();
        if self.changes.len() > max {
            out.push(format!("… and {} more", self.changes.len() - max));
        }
        out
    }

    /// Grants added to partners that are (after the change) in maintenance: refused outright.
    pub fn grants_in_maintenance<'a>(&'a self, new: &'a Model) -> impl Iterator<Item = &'a Change> {
        self.changes.iter().filter(move |c| match c {
            Change::GrantAdded { partner, .. } => new
                .partners
                .get(partner)
                .is_some_and(|p| p.stage == StageName::Maintenance),
            _ => false,
        })
    }
}
