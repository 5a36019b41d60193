//! Comparing two models field by field, one function per part of the configuration.

use std::collections::BTreeSet;

use super::Change;
use super::pairs::pairs;
use std::time::SystemTime;

use crate::governance::model::{ContractModel, Model, RouteModel, Setting};

/// Partners who may call a route requiring `permission` (they hold it).
fn holders(m: &Model, permission: &str) -> BTreeSet<String> {
    m.partners
        .iter()
        .filter(|(_, p)| p.grants.contains(permission))
        .map(|(id, _)| id.clone())
        .collect()
}

pub(super) fn routes(old: &Model, new: &Model, now: SystemTime, c: &mut Vec<Change>) {
    for (name, (a, b)) in pairs(&old.routes, &new.routes) {
        let route = name.clone();
        // Taking a route from its callers is breaking until its announced sunset has passed.
        let before_sunset = |r: &RouteModel| r.sunset.is_none_or(|s| s.0 > now);
        match (a, b) {
            (None, Some(b)) => c.push(Change::RouteAdded {
                route,
                permission: b.permission.clone(),
            }),
            (Some(a), None) => c.push(Change::RouteRemoved {
                route,
                losing: holders(old, &a.permission).into_iter().collect(),
                before_sunset: before_sunset(a),
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
                        before_sunset: before_sunset(a),
                    });
                }
                route_dates(&route, a, b, c);
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

/// A route's sunset set or moved earlier lets its callers lose it sooner without approval;
/// its deprecation date only announces.
fn route_dates(route: &str, a: &RouteModel, b: &RouteModel, c: &mut Vec<Change>) {
    let text = |d: &Option<crate::governance::model::Date>| d.map(|d| d.to_string());
    if a.sunset != b.sunset {
        c.push(Change::RouteSunsetChanged {
            route: route.to_owned(),
            field: "sunset",
            from: text(&a.sunset),
            to: text(&b.sunset),
            earlier: match (a.sunset, b.sunset) {
                (None, Some(_)) => true,
                (Some(x), Some(y)) => y < x,
                _ => false,
            },
        });
    }
    if a.deprecated_since != b.deprecated_since {
        c.push(Change::RouteSunsetChanged {
            route: route.to_owned(),
            field: "deprecated_since",
            from: text(&a.deprecated_since),
            to: text(&b.deprecated_since),
            earlier: false,
        });
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

pub(super) fn registry(old: &Model, new: &Model, c: &mut Vec<Change>) {
    for (name, (a, b)) in pairs(&old.permissions, &new.permissions) {
        if a != b {
            c.push(Change::PermissionChanged {
                permission: name.clone(),
                from: a.map(|k| k.as_str().to_owned()),
                to: b.map(|k| k.as_str().to_owned()),
            });
        }
    }
}

pub(super) fn settings(old: &Model, new: &Model, c: &mut Vec<Change>) {
    for (name, (a, b)) in pairs(&old.settings, &new.settings) {
        // Most settings of a large file are unchanged: compared first, without copies.
        fn value(s: Option<&Setting>) -> Option<&String> {
            s.and_then(|s| s.value.as_ref())
        }
        if value(a) == value(b) {
            continue;
        }
        // A partner's, route's or upstream's own setting goes with it: that removal is
        // reported (and judged) once, as the partner's, route's or upstream's; so does a new
        // one's. A section turned on or off (`audit`, `identity`, `server.tls`, ...) is one line,
        // not one per field.
        if !owned_by_both(name, old, new) || section_toggled(name, old, new) {
            continue;
        }
        let unset = |wider| Setting { value: None, wider };
        let (a, b) = match (a, b) {
            (Some(a), Some(b)) => (a.clone(), b.clone()),
            (Some(a), None) => (a.clone(), unset(a.wider.clone())),
            (None, Some(b)) => (unset(b.wider.clone()), b.clone()),
            (None, None) => continue,
        };
        if a.value != b.value {
            c.push(Change::SettingChanged {
                setting: name.clone(),
                from: a.value.clone(),
                to: b.value.clone(),
                widens: b.widens_from(&a),
            });
        }
    }
}

/// Whether a setting lies in a section (a setting `on` or `off` whose name is a prefix of its
/// own) that was turned on or off.
fn section_toggled(name: &str, old: &Model, new: &Model) -> bool {
    let toggle = |m: &Model, section: &str| {
        m.settings
            .get(section)
            .and_then(|s| s.value.as_deref())
            .filter(|v| *v == "on" || *v == "off")
            .map(str::to_owned)
    };
    name.match_indices('.').any(|(i, _)| {
        let section = &name[..i];
        let (a, b) = (toggle(old, section), toggle(new, section));
        (a.is_some() || b.is_some()) && a != b
    })
}

pub(super) fn upstreams(old: &Model, new: &Model, c: &mut Vec<Change>) {
    for (name, (a, b)) in pairs(&old.upstreams, &new.upstreams) {
        if let (Some(a), Some(b)) = (a, b)
            && a != b
        {
            c.push(Change::UpstreamMoved {
                upstream: name.clone(),
                from: a.clone(),
                to: b.clone(),
            });
        }
    }
}

/// Whether the partner, route or upstream a dotted setting or note name belongs to (if it
/// belongs to one) is in both models. Ids may hold dots (`acme.eu`): the longest id of either
/// model that the name continues is the owner.
fn owned_by_both(name: &str, old: &Model, new: &Model) -> bool {
    let Some((kind, rest)) = name.split_once('.') else {
        return true;
    };
    let has = |m: &Model, id: &str| match kind {
        "partners" => m.partners.contains_key(id),
        "routes" => m.routes.contains_key(id),
        "upstreams" => m.upstreams.contains_key(id),
        _ => false,
    };
    // The owner is `rest` up to one of its dots: the longest such id either model has.
    let owner = rest
        .rmatch_indices('.')
        .map(|(at, _)| &rest[..at])
        .find(|id| has(old, id) || has(new, id));
    owner.is_none_or(|id| has(old, id) && has(new, id))
}

/// Justifications, tickets, approvers and links: each change is shown, none widens. Those of
/// a partner, route or upstream that comes or goes go with it.
pub(super) fn notes(old: &Model, new: &Model, c: &mut Vec<Change>) {
    for (name, (a, b)) in pairs(&old.notes, &new.notes) {
        if a != b && owned_by_both(name, old, new) {
            c.push(Change::NoteChanged {
                note: name.clone(),
                from: a.cloned(),
                to: b.cloned(),
            });
        }
    }
}
