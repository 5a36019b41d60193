//! The misuse detector: a partner whose denials (by default `permission_denied` and
//! `forbidden_route`) reach `threshold` within `window` is suspended for `suspend_for`. The
//! suspension lifts by itself (at its end, noticed by the sync tick or the partner's next
//! request) or by an operator. With Redis, every replica holds every suspension
//! (`fleet.rs` in `state` carries them).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use tokio::time::Instant;

use super::MisuseSettings;

/// How far apart replicas' clocks (and Redis's) may be: a shared suspension this close to its
/// end that the fleet no longer lists is left to end by time.
const CLOCK_SKEW: std::time::Duration = std::time::Duration::from_secs(1);

/// Per-partner denial history and suspensions, shared by every worker; survives reloads.
///
/// With a shared state backend the suspensions are the fleet's: this replica's new
/// suspensions and operator lifts wait in an outbox for the sync task, which publishes them
/// and hands back the fleet's list (`reconcile`).
#[derive(Debug, Default)]
pub struct Detector {
    inner: Mutex<Inner>,
    /// Partners suspended now (0: the request path skips the lock).
    suspended: AtomicUsize,
}

#[derive(Debug, Default)]
struct Inner {
    partners: HashMap<Arc<str>, Entry>,
    /// Lifted here by an operator, not yet told to the fleet.
    lifted: Vec<Arc<str>>,
}

#[derive(Debug, Default)]
struct Entry {
    denials: VecDeque<Instant>,
    until: Option<Suspension>,
}

#[derive(Debug, Clone, Copy)]
struct Suspension {
    /// When it lifts, on this replica's monotonic clock...
    at: Instant,
    /// ... and on the wall clock (what the fleet shares).
    wall: SystemTime,
    /// Whether the fleet holds it (published, or adopted from it): only such a suspension
    /// is lifted when the fleet no longer lists it.
    shared: bool,
}

/// A suspension starting or ending: an audit record and a metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The partner.
    pub partner: Arc<str>,
    /// What happened.
    pub action: Action,
}

/// What happened to a suspension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The partner was suspended until this time.
    Suspended {
        /// When it lifts by itself.
        until: SystemTime,
        /// The denials counted in the window; `None` when another replica suspended it.
        denials: Option<u32>,
    },
    /// The suspension ended.
    Lifted {
        /// Who ended it.
        by: Lift,
    },
}

/// Who ended a suspension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lift {
    /// Its time was up.
    Expiry,
    /// An operator on this replica (`unsuspend`).
    Operator,
    /// Another replica's operator: the fleet no longer lists it.
    Fleet,
}

/// What this replica changed that the fleet has not heard of yet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outbox {
    /// Suspensions started here, with when each lifts.
    pub suspended: Vec<(Arc<str>, SystemTime)>,
    /// Suspensions lifted here by an operator.
    pub lifted: Vec<Arc<str>>,
}

// === impl Lift ===

impl Lift {
    /// The audit record's `by`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Expiry => "expiry",
            Self::Operator => "operator",
            Self::Fleet => "fleet",
        }
    }
}

// === impl Detector ===

impl Detector {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `partner` is suspended now; a suspension found expired is lifted, and its end
    /// returned for the record.
    pub fn check(&self, partner: &Arc<str>) -> (Option<SystemTime>, Option<Event>) {
        if self.suspended.load(Ordering::Relaxed) == 0 {
            return (None, None);
        }
        let mut inner = self.lock();
        let Some(entry) = inner.partners.get_mut(partner) else {
            return (None, None);
        };
        match entry.until {
            Some(s) if Instant::now() < s.at => (Some(s.wall), None),
            Some(_) => (None, Some(self.end(partner, entry, Lift::Expiry))),
            None => (None, None),
        }
    }

    /// Ends `entry`'s suspension.
    fn end(&self, partner: &Arc<str>, entry: &mut Entry, by: Lift) -> Event {
        entry.until = None;
        entry.denials.clear();
        self.suspended.fetch_sub(1, Ordering::Relaxed);
        Event {
            partner: partner.clone(),
            action: Action::Lifted { by },
        }
    }

    /// Starts a suspension of `entry` until `wall`.
    fn start(&self, entry: &mut Entry, at: Instant, wall: SystemTime, shared: bool) {
        if entry
            .until
            .replace(Suspension { at, wall, shared })
            .is_none()
        {
            self.suspended.fetch_add(1, Ordering::Relaxed);
        }
        entry.denials.clear();
    }

    /// Counts a denial; returns what it changed: the end of an expired suspension (noticed
    /// here too, for denials decided before the suspension check), and the suspension it
    /// starts if it reaches the threshold.
    pub fn denial(&self, settings: &MisuseSettings, partner: &Arc<str>, code: &str) -> Vec<Event> {
        let mut events = Vec::new();
        if !settings.codes.iter().any(|c| c == code) {
            return events;
        }
        let now = Instant::now();
        let mut inner = self.lock();
        let entry = inner.partners.entry(partner.clone()).or_default();
        match entry.until {
            Some(s) if now < s.at => return events,
            Some(_) => events.push(self.end(partner, entry, Lift::Expiry)),
            None => {}
        }
        while entry
            .denials
            .front()
            .is_some_and(|t| now.duration_since(*t) > settings.window)
        {
            entry.denials.pop_front();
        }
        entry.denials.push_back(now);
        let denials = u32::try_from(entry.denials.len()).unwrap_or(u32::MAX);
        if denials < settings.threshold {
            return events;
        }
        let until = SystemTime::now() + settings.suspend_for;
        self.start(entry, now + settings.suspend_for, until, false);
        events.push(Event {
            partner: partner.clone(),
            action: Action::Suspended {
                until,
                denials: Some(denials),
            },
        });
        events
    }

    /// An operator lifts a suspension; `None` when the partner was not suspended.
    pub fn lift(&self, partner: &str) -> Option<Event> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let (id, entry) = inner
            .partners
            .iter_mut()
            .find(|(id, e)| &***id == partner && e.until.is_some())?;
        let id = id.clone();
        let event = self.end(&id, entry, Lift::Operator);
        inner.lifted.push(id);
        Some(event)
    }

    /// Lifts every suspension whose time is up (the sync tick: a suspension ends on time
    /// even when the partner sends nothing).
    pub fn expire(&self) -> Vec<Event> {
        if self.suspended.load(Ordering::Relaxed) == 0 {
            return Vec::new();
        }
        let now = Instant::now();
        let mut inner = self.lock();
        let mut events = Vec::new();
        for (id, entry) in &mut inner.partners {
            if entry.until.is_some_and(|s| now >= s.at) {
                events.push(self.end(id, entry, Lift::Expiry));
            }
        }
        events
    }

    /// The suspensions started and lifted here that the fleet has not heard of (taken: give
    /// them back with `unsent` if they could not be sent).
    pub fn outbox(&self) -> Outbox {
        let mut inner = self.lock();
        let lifted = std::mem::take(&mut inner.lifted);
        let suspended = inner
            .partners
            .iter()
            .filter_map(|(id, e)| e.until.filter(|s| !s.shared).map(|s| (id.clone(), s.wall)))
            .collect();
        Outbox { suspended, lifted }
    }

    /// The outbox was sent: its suspensions are the fleet's now.
    pub fn sent(&self, outbox: &Outbox) {
        let mut inner = self.lock();
        for (id, wall) in &outbox.suspended {
            if let Some(s) = inner.partners.get_mut(id).and_then(|e| e.until.as_mut())
                && s.wall == *wall
            {
                s.shared = true;
            }
        }
    }

    /// The outbox could not be sent: its lifts wait for the next try (its suspensions are
    /// still unshared, so they are taken again).
    pub fn unsent(&self, outbox: Outbox) {
        self.lock().lifted.extend(outbox.lifted);
    }

    /// Makes the fleet's suspensions (partner, when it lifts) this replica's: adopts those it
    /// does not hold, follows a changed end, and lifts the shared ones the fleet no longer
    /// lists. Returns what changed, for the record.
    pub fn reconcile(&self, fleet: &[(Arc<str>, SystemTime)]) -> Vec<Event> {
        let (now, wall_now) = (Instant::now(), SystemTime::now());
        let mut inner = self.lock();
        let mut events = Vec::new();
        for (id, until) in fleet {
            let Ok(left) = until.duration_since(wall_now) else {
                continue; // over already
            };
            let entry = inner.partners.entry(id.clone()).or_default();
            match entry.until {
                Some(s) if s.wall == *until => {
                    entry.until = Some(Suspension { shared: true, ..s });
                }
                held => {
                    self.start(entry, now + left, *until, true);
                    if held.is_none() {
                        events.push(Event {
                            partner: id.clone(),
                            action: Action::Suspended {
                                until: *until,
                                denials: None,
                            },
                        });
                    }
                }
            }
        }
        for (id, entry) in &mut inner.partners {
            let listed = fleet.iter().any(|(f, _)| f == id);
            // One about to end may be gone from the fleet by another clock: `expire` ends it
            // here, on time, as an expiry.
            let lifted_elsewhere = entry
                .until
                .is_some_and(|s| s.shared && s.wall > wall_now + CLOCK_SKEW);
            if lifted_elsewhere && !listed {
                events.push(self.end(id, entry, Lift::Fleet));
            }
        }
        events
    }

    /// The partners suspended now, with when each lifts.
    pub fn suspended(&self) -> Vec<(Arc<str>, SystemTime)> {
        let inner = self.lock();
        let now = Instant::now();
        inner
            .partners
            .iter()
            .filter_map(|(id, e)| e.until.filter(|s| now < s.at).map(|s| (id.clone(), s.wall)))
            .collect()
    }
}

#[cfg(test)]
mod tests;
