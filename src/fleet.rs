//! One suspension for the fleet: the task that ends misuse suspensions on time and, with the
//! Redis backend, carries them between replicas — this replica's new suspensions and operator
//! lifts out, the fleet's list back — every `SYNC_EVERY`, so each holds on every replica
//! within a second.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::governance::misuse::{Detector, Event};
use crate::outcome::OutcomeSink;
use crate::state::State;

/// How often suspensions are synchronised (and expired ones lifted).
pub const SYNC_EVERY: Duration = Duration::from_millis(250);

/// Runs until shutdown.
pub async fn run(
    detector: Arc<Detector>,
    state: Arc<State>,
    sink: Arc<dyn OutcomeSink>,
    mut shutdown: crate::shutdown::Signal,
) {
    let mut tick = tokio::time::interval(SYNC_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.wait() => return,
        }
        for event in detector.expire() {
            record(&*sink, &event);
        }
        sync(&detector, &state, &*sink).await;
    }
}

/// One exchange with the fleet: the outbox out, the fleet's suspensions in.
async fn sync(detector: &Detector, state: &State, sink: &dyn OutcomeSink) {
    if state.backend() != "redis" {
        return;
    }
    let outbox = detector.outbox();
    let suspended: Vec<(String, u64)> = outbox
        .suspended
        .iter()
        .map(|(p, until)| (p.to_string(), unix_ms(*until)))
        .collect();
    let lifted: Vec<String> = outbox.lifted.iter().map(|p| p.to_string()).collect();
    match state.sync_suspensions(&suspended, &lifted).await {
        Some(fleet) => {
            detector.sent(&outbox);
            let fleet: Vec<(Arc<str>, SystemTime)> = fleet
                .into_iter()
                .map(|(p, ms)| (p.into(), UNIX_EPOCH + Duration::from_millis(ms)))
                .collect();
            for event in detector.reconcile(&fleet) {
                record(sink, &event);
            }
        }
        None => detector.unsent(outbox),
    }
}

fn record(sink: &dyn OutcomeSink, event: &Event) {
    tracing::info!(partner = %event.partner, action = ?event.action, "misuse suspension");
    sink.suspension(event);
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
