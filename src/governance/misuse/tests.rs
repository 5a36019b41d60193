//! The misuse detector's windows, thresholds, lifts and fleet reconciliation, in paused time.

use super::*;
use std::time::Duration;

#[test]
fn a_threshold_of_denials_suspends_and_an_operator_lifts() {
    let settings = MisuseSettings {
        threshold: 3,
        window: Duration::from_secs(60),
        suspend_for: Duration::from_secs(600),
        codes: vec!["permission_denied".into()],
    };
    let d = Detector::default();
    let p: Arc<str> = "acme".into();
    assert_eq!(d.denial(&settings, &p, "rate_limited"), []);
    assert_eq!(d.denial(&settings, &p, "permission_denied"), []);
    assert_eq!(d.denial(&settings, &p, "permission_denied"), []);
    let ev = d.denial(&settings, &p, "permission_denied");
    assert!(matches!(
        ev[..],
        [Event {
            action: Action::Suspended {
                denials: Some(3),
                ..
            },
            ..
        }]
    ));
    assert!(matches!(d.check(&p), (Some(_), None)));
    assert_eq!(d.check(&"other".into()), (None, None));
    assert!(d.lift("acme").is_some());
    assert_eq!(d.check(&p), (None, None));
    assert_eq!(d.lift("acme"), None);
}

fn settings() -> MisuseSettings {
    MisuseSettings {
        threshold: 3,
        window: Duration::from_secs(60),
        suspend_for: Duration::from_secs(600),
        codes: vec!["permission_denied".into()],
    }
}

fn suspends(events: &[Event]) -> bool {
    events
        .iter()
        .any(|e| matches!(e.action, Action::Suspended { .. }))
}

#[tokio::test(start_paused = true)]
async fn denials_older_than_the_window_never_count() {
    let (s, d, p) = (settings(), Detector::default(), Arc::<str>::from("acme"));
    let deny = || d.denial(&s, &p, "permission_denied");
    assert!(!suspends(&deny()));
    assert!(!suspends(&deny()));
    tokio::time::advance(Duration::from_secs(61)).await;
    assert!(!suspends(&deny()), "the first two are past the window");
    assert!(!suspends(&deny()));
    // Exactly one window after a denial, it still counts (`> window` drops it).
    tokio::time::advance(Duration::from_secs(60)).await;
    assert!(suspends(&deny()), "three within the window");
}

#[tokio::test(start_paused = true)]
async fn a_suspension_lifts_by_itself_at_its_end_and_not_before() {
    let (s, d, p) = (settings(), Detector::default(), Arc::<str>::from("acme"));
    for _ in 0..3 {
        d.denial(&s, &p, "permission_denied");
    }
    assert_eq!(d.suspended().len(), 1);
    tokio::time::advance(s.suspend_for - Duration::from_millis(1)).await;
    assert!(matches!(d.check(&p), (Some(_), None)));
    assert_eq!(d.expire(), [], "not yet");
    assert_eq!(
        d.denial(&s, &p, "permission_denied"),
        [],
        "held, not counted"
    );
    tokio::time::advance(Duration::from_millis(1)).await;
    assert!(d.suspended().is_empty(), "over at its end");
    let lifted = Event {
        partner: p.clone(),
        action: Action::Lifted { by: Lift::Expiry },
    };
    assert_eq!(
        d.expire(),
        std::slice::from_ref(&lifted),
        "the sync tick lifts it"
    );
    assert_eq!(d.check(&p), (None, None), "once");
    // Noticed by the partner's next request when no tick came first.
    for _ in 0..3 {
        d.denial(&s, &p, "permission_denied");
    }
    tokio::time::advance(s.suspend_for).await;
    assert_eq!(d.check(&p), (None, Some(lifted.clone())));
    // Or by its next denial, which then counts afresh.
    for _ in 0..3 {
        d.denial(&s, &p, "permission_denied");
    }
    tokio::time::advance(s.suspend_for).await;
    assert_eq!(d.denial(&s, &p, "permission_denied"), [lifted]);
    assert_eq!(d.check(&p), (None, None));
}

#[tokio::test(start_paused = true)]
async fn the_fleet_carries_suspensions_and_lifts_both_ways() {
    let (s, here) = (settings(), Detector::default());
    let acme: Arc<str> = "acme".into();
    for _ in 0..3 {
        here.denial(&s, &acme, "permission_denied");
    }
    // Not yet sent: the fleet's list (without it) does not lift it.
    assert_eq!(here.reconcile(&[]), []);
    assert!(here.check(&acme).0.is_some());
    let out = here.outbox();
    assert_eq!(out.suspended.len(), 1);
    here.sent(&out);
    assert_eq!(here.outbox(), Outbox::default(), "sent once");
    let until = out.suspended[0].1;

    // Another replica adopts it, and lifts it when the fleet no longer lists it.
    let there = Detector::default();
    let fleet = [(acme.clone(), until)];
    let adopted = there.reconcile(&fleet);
    assert_eq!(
        adopted,
        [Event {
            partner: acme.clone(),
            action: Action::Suspended {
                until,
                denials: None
            }
        }]
    );
    assert!(there.check(&acme).0.is_some());
    assert_eq!(there.reconcile(&fleet), [], "held already");
    // An operator there lifts it: the lift goes out; here follows the fleet.
    assert!(there.lift("acme").is_some());
    let out = there.outbox();
    assert_eq!(out.lifted, std::slice::from_ref(&acme));
    there.unsent(out.clone());
    assert_eq!(there.outbox(), out, "kept until sent");
    let followed = here.reconcile(&[]);
    assert_eq!(
        followed,
        [Event {
            partner: acme.clone(),
            action: Action::Lifted { by: Lift::Fleet }
        }]
    );
    assert!(here.check(&acme).0.is_none());
    // A suspension already over is not adopted.
    let over = SystemTime::now() - Duration::from_secs(1);
    assert_eq!(there.reconcile(&[(acme.clone(), over)]), []);
}
