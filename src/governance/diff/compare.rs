//! Comparing two models field by field, one function per part of the configuration.

use std::collections::{BTreeMap, BTreeSet};

use super::Change;
use crate::governance::model::{ContractModel, Model, PartnerModel, stage_rank};

/// Every key of two maps with its value on each side.
pub(super) fn pairs<'a, V>(
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

pub(super) fn partners(old: &Model, new: &Model, c: &mut Vec<Change>) {
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
        // A suspension with an end leads back to full access: entering one from deprecation
        // or end of support is a way back too.
        let ends_in_access = b.stage == "suspended"
            && b.suspended_until.is_some()
            && stage_rank(&a.stage) >= stage_rank("deprecation");
        c.push(Change::StageChanged {
            partner: p(),
            from: a.stage.clone(),
            to: b.stage.clone(),
            backwards: stage_rank(&b.stage) < stage_rank(&a.stage) || ends_in_access,
        });
    }
    // RFC 3339 UTC timestamps of one shape compare as strings.
    let later = |x: &Option<String>, y: &Option<String>| match (x, y) {
        (_, None) => x.is_some(),
        (None, Some(_)) => false,
        (Some(x), Some(y)) => y > x,
    };
    for (field, x, y, extends) in [
        ("sunset", &a.sunset, &b.sunset, later(&a.sunset, &b.sunset)),
        (
            "compliance_due",
            &a.compliance_due,
            &b.compliance_due,
            later(&a.compliance_due, &b.compliance_due),
        ),
        (
            "suspended_until",
            &a.suspended_until,
            &b.suspended_until,
            match (&a.suspended_until, &b.suspended_until) {
                (None, Some(_)) => true,
                (Some(x), Some(y)) => y < x,
                _ => false,
            },
        ),
    ] {
        if x != y {
            c.push(Change::DateChanged {
                partner: p(),
                field,
                from: x.clone(),
                to: y.clone(),
                extends,
            });
        }
    }
    for i in b.jwt_issuers.difference(&a.jwt_issuers) {
        c.push(Change::PartnerIssuerChanged {
            partner: p(),
            issuer: i.clone(),
            added: true,
        });
    }
    for i in a.jwt_issuers.difference(&b.jwt_issuers) {
        c.push(Change::PartnerIssuerChanged {
            partner: p(),
            issuer: i.clone(),
            added: false,
        });
    }
    if a.require_mtls != b.require_mtls || a.client_certs != b.client_certs {
        let loosened = (a.require_mtls && !b.require_mtls)
            || (b.require_mtls && !b.client_certs.is_subset(&a.client_certs));
        c.push(Change::MtlsChanged {
            partner: p(),
            detail: format!(
                "client certificate binding {} -> {} ({} certificate(s))",
                if a.require_mtls {
                    "required"
                } else {
                    "optional"
                },
                if b.require_mtls {
                    "required"
                } else {
                    "optional"
                },
                b.client_certs.len()
            ),
            loosened,
        });
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
                        extends: later(&x.expires, &y.expires),
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

pub(super) fn routes(old: &Model, new: &Model, c: &mut Vec<Change>) {
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
                        callers: after.into_iter().collect(),
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
                if (&a.request_schema, &a.request_schema_sha256)
                    != (&b.request_schema, &b.request_schema_sha256)
                {
                    // A schema removed, or its content changed, may let more through.
                    let same_content = a.request_schema_sha256.is_some()
                        && a.request_schema_sha256 == b.request_schema_sha256;
                    c.push(Change::ContractChanged {
                        route,
                        detail: format!(
                            "request_schema {} -> {}{}",
                            a.request_schema.as_deref().unwrap_or("-"),
                            b.request_schema.as_deref().unwrap_or("-"),
                            if same_content {
                                ""
                            } else {
                                " (content changed)"
                            }
                        ),
                        loosened: b.request_schema.is_none()
                            || (a.request_schema.is_some() && !same_content),
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

pub(super) fn classes(old: &Model, new: &Model, c: &mut Vec<Change>) {
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

pub(super) fn governance(old: &Model, new: &Model, c: &mut Vec<Change>) {
    let (a, b) = (&old.governance, &new.governance);
    for (name, was, is) in [
        (
            "enforce_approvals",
            a.enforce_approvals,
            b.enforce_approvals,
        ),
        (
            "require_grant_metadata",
            a.require_grant_metadata,
            b.require_grant_metadata,
        ),
    ] {
        if was != is {
            // Turning a rule off weakens governance.
            c.push(Change::GovernanceChanged {
                detail: format!("{name} {was} -> {is}"),
                widens: !is,
            });
        }
    }
    if a.approvals_dir != b.approvals_dir {
        c.push(Change::GovernanceChanged {
            detail: "approvals_dir moved".into(),
            widens: true,
        });
    }
    if a.bodies != b.bodies {
        c.push(Change::GovernanceChanged {
            detail: "bodies' keys changed".into(),
            widens: true,
        });
    }
}

pub(super) fn forbidden(old: &Model, new: &Model, c: &mut Vec<Change>) {
    for (what, a, b) in [
        ("forbidden prefix", &old.forbidden, &new.forbidden),
        (
            "forbidden segment",
            &old.forbidden_segments,
            &new.forbidden_segments,
        ),
    ] {
        for v in a.difference(b) {
            c.push(Change::ForbiddenChanged {
                what,
                value: v.clone(),
                removed: true,
            });
        }
        for v in b.difference(a) {
            c.push(Change::ForbiddenChanged {
                what,
                value: v.clone(),
                removed: false,
            });
        }
    }
}

pub(super) fn issuers(old: &Model, new: &Model, c: &mut Vec<Change>) {
    for (name, (a, b)) in pairs(&old.issuers, &new.issuers) {
        let issuer = name.clone();
        match (a, b) {
            (None, Some(_)) => c.push(Change::IssuerChanged {
                issuer,
                detail: "added".into(),
                widens: true,
            }),
            (Some(_), None) => c.push(Change::IssuerChanged {
                issuer,
                detail: "removed".into(),
                widens: false,
            }),
            // Any change to how its tokens are verified (keys, secret, audiences, algorithms,
            // the claim naming the partner) may accept tokens it refused before.
            (Some(a), Some(b)) if a != b => c.push(Change::IssuerChanged {
                issuer,
                detail: "verification changed (keys, secret, audiences, algorithms or claim)"
                    .into(),
                widens: true,
            }),
            _ => {}
        }
    }
}
