//! The series one outcome updates, resolved once per outcome shape and cached: requests,
//! durations, denials or permission uses, upstream errors, limits, contract violations.

use super::*;

// === impl Series ===

impl Series {
    /// Counts one outcome of this shape.
    pub(super) fn update(&self, o: &Outcome) {
        self.requests.increment(1);
        self.duration.record(o.duration.as_secs_f64());
        if let Some(c) = &self.decision {
            c.increment(1);
        }
        if let (Some(h), Some(d)) = (&self.upstream_duration, o.upstream_duration) {
            h.record(d.as_secs_f64());
        }
        if let Some(c) = &self.upstream_error {
            c.increment(1);
        }
        if let Some(c) = &self.unauthenticated_limited {
            c.increment(1);
        }
        if let Some(c) = &self.contract_violation {
            c.increment(1);
        }
    }
}

// === impl Metrics (series) ===

impl Metrics {
    /// Registers (or finds) every series an outcome of this shape updates.
    pub(super) fn resolve(&self, o: &Outcome) -> Series {
        let partner = o.partner.as_deref().unwrap_or("-").to_owned();
        let route = o.route.as_deref().unwrap_or("-").to_owned();
        let requests = self.counter(
            REQUESTS,
            &[
                ("partner", partner.clone()),
                ("route", route.clone()),
                ("status", o.status.to_string()),
            ],
        );
        let route_label = route.clone();
        let duration = self.histogram(REQUEST_DURATION, &[("route", route)]);
        let decision = match (o.decision, o.code, &o.permission) {
            (Decision::Deny, Some(code), _) => {
                Some(self.counter(DENIALS, &[("partner", partner), ("code", code.into())]))
            }
            (Decision::Allow, _, Some(permission)) => Some(self.counter(
                PERMISSION_USES,
                &[("partner", partner), ("permission", permission.to_string())],
            )),
            _ => None,
        };
        let upstream_duration = o
            .upstream
            .as_ref()
            .map(|u| self.histogram(UPSTREAM_DURATION, &[("upstream", u.to_string())]));
        let direction = match o.code {
            Some("request_contract_violation") => Some("request"),
            Some("response_contract_violation") => Some("response"),
            _ => None,
        };
        let contract_violation = direction.map(|d| {
            self.counter(
                CONTRACT_VIOLATIONS,
                &[("route", route_label.clone()), ("direction", d.into())],
            )
        });
        let upstream_error = match (&o.upstream, o.decision, o.code) {
            (Some(u), Decision::Allow, Some(_)) if direction.is_none() => Some(self.counter(
                UPSTREAM_ERRORS,
                &[("upstream", u.to_string()), ("kind", o.reason.into())],
            )),
            _ => None,
        };
        let unauthenticated_limited = o
            .summarised
            .is_some()
            .then(|| self.counter(UNAUTHENTICATED_LIMITED, &[]));
        Series {
            requests,
            duration,
            decision,
            upstream_duration,
            upstream_error,
            unauthenticated_limited,
            contract_violation,
        }
    }
}

// === impl SeriesKey ===

impl SeriesKey {
    pub(super) fn of(o: &Outcome) -> Self {
        Self {
            partner: o.partner.clone(),
            route: o.route.clone(),
            permission: o.permission.clone(),
            upstream: o.upstream.clone(),
            status: o.status,
            decision: o.decision,
            code: o.code,
            reason: o.reason,
            summarised: o.summarised.is_some(),
        }
    }
}
