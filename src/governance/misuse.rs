//! The misuse detector: a partner whose denials (by default `permission_denied` and
//! `forbidden_route`) reach `threshold` within `window` is suspended for `suspend_for`. The
//! suspension lifts by itself (noticed at the partner's next request) or by an operator.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use tokio::time::Instant;

use super::MisuseSettings;

/// Per-partner denial history and suspensions, shared by every worker; survives reloads.
#[derive(Debug, Default)]
pub struct Detector {
    partners: Mutex<HashMap<Arc<str>, Entry>>,
    /// Partners suspended now (0: the request path skips the lock).
    suspended: AtomicUsize,
}

#[derive(Debug, Default)]
struct Entry {
    denials: VecDeque<Instant>,
    until: Option<(Instant, SystemTime)>,
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
    /// The partner was suspended for misuse until this time.
    Suspended {
        /// When it lifts by itself.
        until: SystemTime,
        /// The denials counted in the window.
        denials: u32,
    },
    /// The suspension ended.
    Lifted {
        /// An operator lifted it (otherwise it expired).
        by_operator: bool,
    },
}

// === impl Detector ===

impl Detector {
    /// Whether `partner` is suspended now; a suspension found expired is lifted, and its end
    /// returned for the record.
    pub fn check(&self, partner: &Arc<str>) -> (bool, Option<Event>) {
        if self.suspended.load(Ordering::Relaxed) == 0 {
            return (false, None);
        }
        let mut partners = self.partners.lock().unwrap_or_else(|e| e.into_inner());
        let Some(entry) = partners.get_mut(partner) else {
            return (false, None);
        };
        match entry.until {
            Some((until, _)) if Instant::now() < until => (true, None),
            Some(_) => {
                entry.until = None;
                entry.denials.clear();
                self.suspended.fetch_sub(1, Ordering::Relaxed);
                let ev = Event {
                    partner: partner.clone(),
                    action: Action::Lifted { by_operator: false },
                };
                (false, Some(ev))
            }
            None => (false, None),
        }
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
        let mut partners = self.partners.lock().unwrap_or_else(|e| e.into_inner());
        let entry = partners.entry(partner.clone()).or_default();
        match entry.until {
            Some((until, _)) if now < until => return events,
            Some(_) => {
                entry.until = None;
                entry.denials.clear();
                self.suspended.fetch_sub(1, Ordering::Relaxed);
                events.push(Event {
                    partner: partner.clone(),
                    action: Action::Lifted { by_operator: false },
                });
            }
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
        entry.until = Some((now + settings.suspend_for, until));
        entry.denials.clear();
        self.suspended.fetch_add(1, Ordering::Relaxed);
        events.push(Event {
            partner: partner.clone(),
            action: Action::Suspended { until, denials },
        });
        events
    }

    /// An operator lifts a suspension; `None` when the partner was not suspended.
    pub fn lift(&self, partner: &str) -> Option<Event> {
        let mut partners = self.partners.lock().unwrap_or_else(|e| e.into_inner());
        let (id, entry) = partners.iter_mut().find(|(id, _)| &***id == partner)?;
        entry.until.take()?;
        entry.denials.clear();
        self.suspended.fetch_sub(1, Ordering::Relaxed);
        Some(Event {
            partner: id.clone(),
            action: Action::Lifted { by_operator: true },
        })
    }

    /// The partners suspended now, with when each lifts.
    pub fn suspended(&self) -> Vec<(Arc<str>, SystemTime)> {
        let partners = self.partners.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        partners
            .iter()
            .filter_map(|(id, e)| {
                e.until
                    .filter(|(u, _)| now < *u)
                    .map(|(_, wall)| (id.clone(), wall))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
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
                action: Action::Suspended { denials: 3, .. },
                ..
            }]
        ));
        assert_eq!(d.check(&p), (true, None));
        assert_eq!(d.check(&"other".into()), (false, None));
        assert!(d.lift("acme").is_some());
        assert_eq!(d.check(&p), (false, None));
        assert_eq!(d.lift("acme"), None);
    }
}
