//! The decision table, without sockets.

use std::collections::HashSet;
use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::auth::{CredentialSource, Partner};

fn principal(tier: i64, stage: Stage, perms: &[&str]) -> Principal {
    let tier = Tier::new(tier).unwrap_or_else(|| panic!("tier"));
    Principal {
        partner: Arc::new(Partner {
            id: "p".into(),
            tier,
            stage,
            permissions: perms
                .iter()
                .map(|p| Arc::from(*p))
                .collect::<HashSet<_, _>>(),
            client_certs: Vec::new(),
            require_mtls: false,
            jwt_issuers: Vec::new(),
            rate: None,
            migration_url: None,
            headers: [
                http::HeaderValue::from_static("p"),
                http::HeaderValue::from(u16::from(tier.get())),
            ],
        }),
        key_id: "k".into(),
        source: CredentialSource::Authorization,
        token: None,
    }
}

fn route(permission: &str, kind: PermissionKind, idempotency: Idempotency) -> Arc<Route> {
    Arc::new(Route {
        headers: [
            http::HeaderValue::from_static("r"),
            http::HeaderValue::from_static("x"),
        ],
        name: "r".into(),
        method: http::Method::GET,
        template: "/v1/r".into(),
        permission: permission.into(),
        kind,
        upstream: "u".into(),
        upstream_index: 0,
        idempotency,
        response: None,
        passthrough: None,
        request_schema: None,
        request_limits: crate::routes::RequestLimits {
            max_bytes: 1024,
            max_values: 100,
        },
        deprecation: None,
    })
}

/// The instant every test decides at.
const NOW: Duration = Duration::from_secs(1_000_000);

fn at(offset_secs: i64) -> std::time::SystemTime {
    let now = UNIX_EPOCH + NOW;
    if offset_secs >= 0 {
        now + Duration::from_secs(offset_secs.unsigned_abs())
    } else {
        now - Duration::from_secs(offset_secs.unsigned_abs())
    }
}

fn facts(has_idempotency_key: bool) -> Facts {
    Facts {
        has_idempotency_key,
        now: at(0),
        misuse_suspended_until: None,
    }
}

fn deprecated() -> Stage {
    Stage::Deprecation {
        since: at(-100),
        sunset: at(100),
    }
}

#[test]
fn decision_table() {
    use PermissionKind::*;
    let read = route("reports:read", Read, Idempotency::None);
    let wf = route("workflows:trigger", Workflow, Idempotency::Required);
    let intel = route("insights:query", Intelligence, Idempotency::None);
    let key = facts(true);
    let no_key = facts(false);
    let denied = |r: Result<Permit, Deny>| r.err().map(|d| d.code());

    let active1 = principal(1, Stage::Active, &["reports:read"]);
    assert_eq!(denied(decide(&active1, &read, &no_key)), None);
    assert_eq!(
        denied(decide(&active1, &wf, &key)),
        Some("tier_insufficient")
    );
    assert_eq!(
        denied(decide(&active1, &intel, &key)),
        Some("tier_insufficient")
    );

    let maint2 = principal(
        2,
        Stage::Maintenance {
            compliance_due: at(100),
        },
        &["reports:read", "workflows:trigger"],
    );
    assert_eq!(denied(decide(&maint2, &wf, &key)), None);
    assert_eq!(
        denied(decide(&maint2, &wf, &no_key)),
        Some("idempotency_key_required")
    );

    let two_without = principal(2, Stage::Active, &["reports:read"]);
    assert_eq!(
        denied(decide(&two_without, &wf, &key)),
        Some("permission_denied")
    );

    let dep = principal(2, deprecated(), &["reports:read", "workflows:trigger"]);
    assert_eq!(denied(decide(&dep, &read, &no_key)), None);
    assert_eq!(denied(decide(&dep, &wf, &key)), Some("stage_restricted"));

    let eos = principal(3, Stage::EndOfSupport, &["reports:read"]);
    assert_eq!(
        denied(decide(&eos, &read, &no_key)),
        Some("partner_revoked")
    );

    let three = principal(3, Stage::Active, &["insights:query"]);
    assert_eq!(denied(decide(&three, &intel, &no_key)), None);
    assert_eq!(
        denied(decide(&three, &read, &no_key)),
        Some("permission_denied")
    );
}

#[test]
fn order_is_stage_then_tier_then_permission() {
    let wf = route(
        "workflows:trigger",
        PermissionKind::Workflow,
        Idempotency::None,
    );
    // End of support wins over everything else.
    let eos = principal(1, Stage::EndOfSupport, &[]);
    assert_eq!(
        decide(&eos, &wf, &facts(false)).err(),
        Some(Deny::PartnerRevoked {
            sunset_passed: false
        })
    );
    // Deprecation wins over the tier ceiling.
    let dep1 = principal(1, deprecated(), &[]);
    assert!(matches!(
        decide(&dep1, &wf, &facts(false)),
        Err(Deny::StageRestricted { .. })
    ));
    // The tier ceiling wins over the missing permission.
    let one = principal(1, Stage::Active, &[]);
    assert!(matches!(
        decide(&one, &wf, &facts(false)),
        Err(Deny::TierInsufficient { .. })
    ));
}

#[test]
fn lifecycle_dates_are_compared_with_the_time_of_the_request() {
    use PermissionKind::*;
    let read = route("reports:read", Read, Idempotency::None);
    let wf = route("workflows:trigger", Workflow, Idempotency::None);
    let perms = ["reports:read", "workflows:trigger"];
    let reason =
        |p: &Principal, r: &Arc<Route>, f: &Facts| decide(p, r, f).err().map(|d| d.reason());

    let past_sunset = principal(
        2,
        Stage::Deprecation {
            since: at(-200),
            sunset: at(-1),
        },
        &perms,
    );
    assert_eq!(
        reason(&past_sunset, &read, &facts(false)),
        Some("sunset_passed")
    );

    let due_later = principal(
        2,
        Stage::Maintenance {
            compliance_due: at(1),
        },
        &perms,
    );
    assert_eq!(reason(&due_later, &wf, &facts(false)), None);
    let overdue = principal(
        2,
        Stage::Maintenance {
            compliance_due: at(0),
        },
        &perms,
    );
    assert_eq!(reason(&overdue, &read, &facts(false)), None);
    assert_eq!(
        reason(&overdue, &wf, &facts(false)),
        Some("compliance_overdue")
    );

    let suspended = principal(2, Stage::Suspended { until: None }, &perms);
    assert_eq!(
        reason(&suspended, &read, &facts(false)),
        Some("stage_suspended")
    );
    let until_later = principal(2, Stage::Suspended { until: Some(at(1)) }, &perms);
    assert_eq!(
        reason(&until_later, &read, &facts(false)),
        Some("stage_suspended")
    );
    let ended = principal(2, Stage::Suspended { until: Some(at(0)) }, &perms);
    assert_eq!(reason(&ended, &read, &facts(false)), None);

    let active = principal(2, Stage::Active, &perms);
    let misuse = Facts {
        misuse_suspended_until: Some(at(2)),
        ..facts(false)
    };
    assert_eq!(reason(&active, &read, &misuse), Some("misuse_suspended"));
    let denied = decide(&active, &read, &misuse).err();
    assert_eq!(denied.as_ref().map(|d| d.code()), Some("partner_suspended"));
    // Both kinds say when they end, when they end by themselves.
    assert_eq!(
        denied,
        Some(crate::policy::Deny::PartnerSuspended {
            misuse: true,
            until: Some(at(2)),
        })
    );
    assert!(
        denied.is_some_and(|d| d.to_string().contains(" until ")),
        "the detail names the end"
    );
}

#[test]
fn permit_names_who_and_what() {
    let read = route("reports:read", PermissionKind::Read, Idempotency::None);
    let p = principal(1, Stage::Active, &["reports:read"]);
    let permit = decide(&p, &read, &facts(false)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(&*permit.principal().partner.id, "p");
    assert_eq!(&*permit.route().permission, "reports:read");
}

#[test]
fn tier_ceilings_follow_the_policy_table() {
    use PermissionKind::*;
    let allowed = |t: i64| {
        let tier = Tier::new(t).unwrap_or_else(|| panic!("tier"));
        [Read, Workflow, Write, Intelligence]
            .into_iter()
            .filter(|k| tier.allows(*k))
            .collect::<Vec<_>>()
    };
    assert_eq!(allowed(1), [Read]);
    assert_eq!(allowed(2), [Read, Workflow, Write]);
    assert_eq!(allowed(3), [Read, Workflow, Write, Intelligence]);
    assert!(Tier::new(0).is_none() && Tier::new(4).is_none());
}
