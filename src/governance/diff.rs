//! What a configuration change does to governance: per partner, permissions gained and lost,
//! tier and stage moves, keys; per route, who loses access; data classes and contracts. Each
//! change says whether it widens access (and so needs approval) or reduces it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::model::{ContractModel, Model, PartnerModel, stage_rank};

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
    /// A lifecycle date moved (sunset, compliance, suspension end).
    DateChanged {
        partner: String,
        field: &'static str,
        from: Option<String>,
        to: Option<String>,
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
    /// A key's expiry changed.
    KeyExpiryChanged {
        partner: String,
        key: String,
        from: Option<String>,
        to: Option<String>,
    },
    /// A route added.
    RouteAdded { route: String, permission: String },
    /// A route removed: `losing` are the partners who could call it (a breaking change).
    RouteRemoved { route: String, losing: Vec<String> },
    /// A route's permission changed: `losing` held the old one and not the new.
    RoutePermissionChanged {
        route: String,
        from: String,
        to: String,
        losing: Vec<String>,
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
            Self::PartnerAdded { .. }
            | Self::GrantAdded { .. }
            | Self::TierRaised { .. }
            | Self::KeyRestored { .. }
            | Self::DataClassRemoved { .. }
            | Self::PermissionChanged { .. } => true,
            Self::StageChanged { backwards, .. } => *backwards,
            Self::ContractChanged { loosened, .. } => *loosened,
            Self::DataClassChanged { widened, .. } => *widened,
            Self::GovernanceChanged { widens, .. } => *widens,
            Self::PartnerRemoved { .. }
            | Self::GrantRemoved { .. }
            | Self::TierLowered { .. }
            | Self::DateChanged { .. }
            | Self::RiskChanged { .. }
            | Self::KeyAdded { .. }
            | Self::KeyRevoked { .. }
            | Self::KeyExpiryChanged { .. }
            | Self::RouteAdded { .. }
            | Self::RouteRemoved { .. }
            | Self::RoutePermissionChanged { .. }
            | Self::RouteTargetChanged { .. }
            | Self::DataClassAdded { .. } => false,
        }
    }

    /// One line for people (and the reload record).
    pub fn line(&self) -> String {
        let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
        match self {
            Self::PartnerAdded {
                partner,
                tier,
                grants,
            } => {
                format!(
                    "partner {partner} added (tier {tier}; {})",
                    grants.join(", ")
                )
            }
            Self::PartnerRemoved { partner } => format!("partner {partner} removed"),
            Self::GrantAdded {
                partner,
                permission,
            } => format!("partner {partner} gains {permission}"),
            Self::GrantRemoved {
                partner,
                permission,
            } => format!("partner {partner} loses {permission}"),
            Self::TierRaised { partner, from, to } => {
                format!("partner {partner} tier {from} -> {to} (up)")
            }
            Self::TierLowered { partner, from, to } => {
                format!("partner {partner} tier {from} -> {to} (down)")
            }
            Self::StageChanged {
                partner,
                from,
                to,
                backwards,
            } => format!(
                "partner {partner} stage {from} -> {to}{}",
                if *backwards { " (BACKWARDS)" } else { "" }
            ),
            Self::DateChanged {
                partner,
                field,
                from,
                to,
            } => {
                format!("partner {partner} {field} {} -> {}", opt(from), opt(to))
            }
            Self::RiskChanged { partner, from, to } => {
                format!("partner {partner} risk {} -> {}", opt(from), opt(to))
            }
            Self::KeyAdded { partner, key } => format!("partner {partner} key {key} added"),
            Self::KeyRevoked { partner, key } => format!("partner {partner} key {key} revoked"),
            Self::KeyRestored { partner, key } => format!("partner {partner} key {key} restored"),
            Self::KeyExpiryChanged {
                partner,
                key,
                from,
                to,
            } => {
                format!(
                    "partner {partner} key {key} expiry {} -> {}",
                    opt(from),
                    opt(to)
                )
            }
            Self::RouteAdded { route, permission } => format!("route {route} added ({permission})"),
            Self::RouteRemoved { route, losing } => {
                format!("route {route} removed; BREAKING for: {}", list(losing))
            }
            Self::RoutePermissionChanged {
                route,
                from,
                to,
                losing,
            } => format!(
                "route {route} permission {from} -> {to}; BREAKING for: {}",
                list(losing)
            ),
            Self::RouteTargetChanged { route, from, to } => format!("route {route} {from} -> {to}"),
            Self::ContractChanged {
                route,
                detail,
                loosened,
            } => format!(
                "route {route} contract {detail}{}",
                if *loosened { " (loosened)" } else { "" }
            ),
            Self::DataClassAdded { class } => format!("data class {class} added"),
            Self::DataClassRemoved { class } => {
                format!("data class {class} removed (its fields may leave)")
            }
            Self::DataClassChanged {
                class,
                detail,
                widened,
            } => format!(
                "data class {class} {detail}{}",
                if *widened { " (widened)" } else { "" }
            ),
            Self::PermissionChanged {
                permission,
                from,
                to,
            } => {
                format!("permission {permission} kind {} -> {}", opt(from), opt(to))
            }
            Self::GovernanceChanged { detail, .. } => format!("governance {detail}"),
        }
    }
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "nobody".into()
    } else {
        v.join(", ")
    }
}

// === impl Diff ===

impl Diff {
    /// The changes from `old` to `new`.
    pub fn between(old: &Model, new: &Model) -> Self {
        let mut c = Vec::new();
        partners(old, new, &mut c);
        routes(old, new, &mut c);
        classes(old, new, &mut c);
        for (name, (a, b)) in pairs(&old.permissions, &new.permissions) {
            if a != b {
                c.push(Change::PermissionChanged {
                    permission: name.clone(),
                    from: a.cloned(),
                    to: b.cloned(),
                });
            }
        }
        governance(old, new, &mut c);
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
                .is_some_and(|p| p.stage == "maintenance"),
            _ => false,
        })
    }
}

/// Every key of two maps with its value on each side.
fn pairs<'a, V>(
    a: &'a BTreeMap<String, V>,
    b: &'a BTreeMap<String, V>,
) -> BTreeMap<&'a String, (Option<&'a V>, Option<&'a V>)> {
    let mut out: BTreeMap<&String, (Option<&V>, Option<&V>)> = BTreeMap::new();
    for (k, v) in a {
        out.entry(k).or_default().0 = Some(v);
    }
    for (k, v) in b {
        out.entry(k).or_default().1 = Some(v);
    }
    out
}

fn partners(old: &Model, new: &Model, c: &mut Vec<Change>) {
    for (id, (a, b)) in pairs(&old.partners, &new.partners) {
        let partner = id.clone();
        match (a, b) {
            (None, Some(b)) => c.push(Change::PartnerAdded {
                partner,
                tier: b.tier,
                grants: b.grants.iter().cloned().collect(),
            }),
            (Some(_), None) => c.push(Change::PartnerRemoved { partner }),
            (Some(a), Some(b)) => partner_changes(&partner, a, b, c),
            (None, None) => {}
        }
    }
}

fn partner_changes(partner: &str, a: &PartnerModel, b: &PartnerModel, c: &mut Vec<Change>) {
    let p = || partner.to_owned();
    for g in b.grants.difference(&a.grants) {
        c.push(Change::GrantAdded {
            partner: p(),
            permission: g.clone(),
        });
    }
    for g in a.grants.difference(&b.grants) {
        c.push(Change::GrantRemoved {
            partner: p(),
            permission: g.clone(),
        });
    }
    if b.tier > a.tier {
        c.push(Change::TierRaised {
            partner: p(),
            from: a.tier,
            to: b.tier,
        });
    } else if b.tier < a.tier {
        c.push(Change::TierLowered {
            partner: p(),
            from: a.tier,
            to: b.tier,
        });
    }
    if a.stage != b.stage {
        c.push(Change::StageChanged {
            partner: p(),
            from: a.stage.clone(),
            to: b.stage.clone(),
            backwards: stage_rank(&b.stage) < stage_rank(&a.stage),
        });
    }
    for (field, x, y) in [
        ("sunset", &a.sunset, &b.sunset),
        ("compliance_due", &a.compliance_due, &b.compliance_due),
        ("suspended_until", &a.suspended_until, &b.suspended_until),
    ] {
        if x != y {
            c.push(Change::DateChanged {
                partner: p(),
                field,
                from: x.clone(),
                to: y.clone(),
            });
        }
    }
    if a.risk != b.risk {
        c.push(Change::RiskChanged {
            partner: p(),
            from: a.risk.clone(),
            to: b.risk.clone(),
        });
    }
    for (id, (x, y)) in pairs(&a.keys, &b.keys) {
        let key = id.clone();
        match (x, y) {
            (None, Some(y)) if !y.revoked => c.push(Change::KeyAdded { partner: p(), key }),
            (Some(x), None) if !x.revoked => c.push(Change::KeyRevoked { partner: p(), key }),
            (Some(x), Some(y)) => {
                if !x.revoked && y.revoked {
                    c.push(Change::KeyRevoked {
                        partner: p(),
                        key: key.clone(),
                    });
                } else if x.revoked && !y.revoked {
                    c.push(Change::KeyRestored {
                        partner: p(),
                        key: key.clone(),
                    });
                }
                if x.sha256 != y.sha256 {
                    c.push(Change::KeyAdded {
                        partner: p(),
                        key: key.clone(),
                    });
                }
                if x.expires != y.expires {
                    c.push(Change::KeyExpiryChanged {
                        partner: p(),
                        key,
                        from: x.expires.clone(),
                        to: y.expires.clone(),
                    });
                }
            }
            _ => {}
        }
    }
}

/// Partners who may call a route requiring `permission` (they hold it).
fn holders(m: &Model, permission: &str) -> BTreeSet<String> {
    m.partners
        .iter()
        .filter(|(_, p)| p.grants.contains(permission))
        .map(|(id, _)| id.clone())
        .collect()
}

fn routes(old: &Model, new: &Model, c: &mut Vec<Change>) {
    for (name, (a, b)) in pairs(&old.routes, &new.routes) {
        let route = name.clone();
        match (a, b) {
            (None, Some(b)) => c.push(Change::RouteAdded {
                route,
                permission: b.permission.clone(),
            }),
            (Some(a), None) => c.push(Change::RouteRemoved {
                route,
                losing: holders(old, &a.permission).into_iter().collect(),
            }),
            (Some(a), Some(b)) => {
                if a.permission != b.permission {
                    let before = holders(old, &a.permission);
                    let after = holders(new, &b.permission);
                    c.push(Change::RoutePermissionChanged {
                        route: route.clone(),
                        from: a.permission.clone(),
                        to: b.permission.clone(),
                        losing: before.difference(&after).cloned().collect(),
                    });
                }
                let (ta, tb) = (
                    format!("{} {} -> {}", a.method, a.path, a.upstream),
                    format!("{} {} -> {}", b.method, b.path, b.upstream),
                );
                if ta != tb {
                    c.push(Change::RouteTargetChanged {
                        route: route.clone(),
                        from: ta,
                        to: tb,
                    });
                }
                contract(&route, a.response.as_ref(), b.response.as_ref(), c);
                if a.request_schema != b.request_schema {
                    c.push(Change::ContractChanged {
                        route,
                        detail: format!(
                            "request_schema {} -> {}",
                            a.request_schema.as_deref().unwrap_or("-"),
                            b.request_schema.as_deref().unwrap_or("-")
                        ),
                        loosened: b.request_schema.is_none(),
                    });
                }
            }
            (None, None) => {}
        }
    }
}

fn contract(
    route: &str,
    a: Option<&ContractModel>,
    b: Option<&ContractModel>,
    c: &mut Vec<Change>,
) {
    let (detail, loosened) = match (a, b) {
        (None, None) => return,
        (Some(a), Some(b)) if a == b => return,
        (None, Some(_)) => ("added".to_owned(), false),
        (Some(_), None) => ("removed".to_owned(), true),
        (Some(a), Some(b)) => {
            let allow_widened = match (&a.allow_fields, &b.allow_fields) {
                (Some(_), None) => true,
                (Some(x), Some(y)) => !y.is_subset(x),
                _ => false,
            };
            let loosened = allow_widened
                || (a.on_violation == "reject" && b.on_violation == "strip")
                || !b.content_types.is_subset(&a.content_types);
            ("changed".to_owned(), loosened)
        }
    };
    c.push(Change::ContractChanged {
        route: route.to_owned(),
        detail,
        loosened,
    });
}

fn classes(old: &Model, new: &Model, c: &mut Vec<Change>) {
    for (name, (a, b)) in pairs(&old.data_classes, &new.data_classes) {
        let class = name.clone();
        match (a, b) {
            (None, Some(_)) => c.push(Change::DataClassAdded { class }),
            (Some(_), None) => c.push(Change::DataClassRemoved { class }),
            (Some(a), Some(b)) if a != b => {
                let fewer_fields = !a.fields.is_subset(&b.fields);
                let more_receivers = !b.allowed_for.is_subset(&a.allowed_for);
                let mut detail = Vec::new();
                for f in a.fields.difference(&b.fields) {
                    detail.push(format!("field {f} no longer withheld"));
                }
                for f in b.fields.difference(&a.fields) {
                    detail.push(format!("field {f} withheld"));
                }
                for r in b.allowed_for.difference(&a.allowed_for) {
                    detail.push(format!("now allowed for {r}"));
                }
                for r in a.allowed_for.difference(&b.allowed_for) {
                    detail.push(format!("no longer allowed for {r}"));
                }
                c.push(Change::DataClassChanged {
                    class,
                    detail: detail.join("; "),
                    widened: fewer_fields || more_receivers,
                });
            }
            _ => {}
        }
    }
}

fn governance(old: &Model, new: &Model, c: &mut Vec<Change>) {
    let (a, b) = (&old.governance, &new.governance);
    if a.enforce_approvals != b.enforce_approvals {
        c.push(Change::GovernanceChanged {
            detail: format!(
                "enforce_approvals {} -> {}",
                a.enforce_approvals, b.enforce_approvals
            ),
            widens: !b.enforce_approvals,
        });
    }
    if a.require_grant_metadata != b.require_grant_metadata {
        c.push(Change::GovernanceChanged {
            detail: format!(
                "require_grant_metadata {} -> {}",
                a.require_grant_metadata, b.require_grant_metadata
            ),
            widens: !b.require_grant_metadata,
        });
    }
    if a.bodies != b.bodies {
        c.push(Change::GovernanceChanged {
            detail: "bodies' keys changed".into(),
            widens: true,
        });
    }
}
