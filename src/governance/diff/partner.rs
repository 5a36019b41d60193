//! Comparing the partners of two models: grants, tier, stage and lifecycle dates, keys,
//! certificate binding, token issuers.

use super::Change;
use super::pairs::pairs;
use crate::governance::model::{Date, Model, PartnerModel, StageName};

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
        let ends_in_access = b.stage == StageName::Suspended
            && b.suspended_until.is_some()
            && a.stage.rank() >= StageName::Deprecation.rank();
        c.push(Change::StageChanged {
            partner: p(),
            from: a.stage.to_string(),
            to: b.stage.to_string(),
            backwards: b.stage.rank() < a.stage.rank() || ends_in_access,
        });
    }
    // Later, or gone: the partner keeps what the date ends for longer.
    let later = |x: &Option<Date>, y: &Option<Date>| match (x, y) {
        (_, None) => x.is_some(),
        (None, Some(_)) => false,
        (Some(x), Some(y)) => y > x,
    };
    let text = |d: &Option<Date>| d.map(|d| d.to_string());
    let mut dates = vec![
        (
            "sunset".to_owned(),
            a.sunset,
            b.sunset,
            later(&a.sunset, &b.sunset),
        ),
        (
            "compliance_due".to_owned(),
            a.compliance_due,
            b.compliance_due,
            later(&a.compliance_due, &b.compliance_due),
        ),
        (
            "suspended_until".to_owned(),
            a.suspended_until,
            b.suspended_until,
            match (&a.suspended_until, &b.suspended_until) {
                (None, Some(_)) => true,
                (Some(x), Some(y)) => y < x,
                _ => false,
            },
        ),
        // A later review postpones oversight; the deprecation date announces, it grants
        // nothing.
        (
            "review_due".to_owned(),
            a.review_due,
            b.review_due,
            later(&a.review_due, &b.review_due),
        ),
        (
            "deprecated_since".to_owned(),
            a.deprecated_since,
            b.deprecated_since,
            false,
        ),
    ];
    for (grant, (x, y)) in pairs(&a.grant_reviews, &b.grant_reviews) {
        let (x, y) = (x.copied(), y.copied());
        dates.push((format!("review_due of {grant}"), x, y, later(&x, &y)));
    }
    for (field, x, y, extends) in dates {
        if x != y {
            c.push(Change::DateChanged {
                partner: p(),
                field,
                from: text(&x),
                to: text(&y),
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
        // Keys of a partner with bound certificates count only with one of them (mTLS
        // required or not): dropping the requirement, or accepting a certificate not bound
        // before (an empty list accepts any), loosens the binding.
        let loosened = (a.require_mtls && !b.require_mtls)
            || (!a.client_certs.is_empty()
                && (b.client_certs.is_empty() || !b.client_certs.is_subset(&a.client_certs)));
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
            from: a.risk.map(|r| r.as_str().to_owned()),
            to: b.risk.map(|r| r.as_str().to_owned()),
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
                        from: text(&x.expires),
                        to: text(&y.expires),
                        extends: later(&x.expires, &y.expires),
                    });
                }
            }
            _ => {}
        }
    }
}
