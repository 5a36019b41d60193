//! Prometheus metrics: SPEC's names as constants, one recorder per gateway, and the sink that
//! turns each `Outcome` into counter and histogram updates.
//!
//! Labels come only from configuration (partner ids, route and upstream names, codes, status
//! numbers), never from raw client input, so the number of series is bounded by the config.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use dashmap::DashMap;
use metrics::{Key, Label, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};

use crate::audit::Health;
use crate::outcome::{Decision, Outcome, OutcomeSink, Recorded};
use crate::snapshot::Snapshot;

mod partners;
mod series;

/// `kwanus_gateway_requests_total{partner, route, status}`.
pub const REQUESTS: &str = "kwanus_gateway_requests_total";
/// `kwanus_gateway_request_duration_seconds{route}`.
pub const REQUEST_DURATION: &str = "kwanus_gateway_request_duration_seconds";
/// `kwanus_gateway_denials_total{partner, code}`.
pub const DENIALS: &str = "kwanus_gateway_denials_total";
/// `kwanus_gateway_permission_uses_total{partner, permission}`.
pub const PERMISSION_USES: &str = "kwanus_gateway_permission_uses_total";
/// `kwanus_gateway_upstream_duration_seconds{upstream}`.
pub const UPSTREAM_DURATION: &str = "kwanus_gateway_upstream_duration_seconds";
/// `kwanus_gateway_upstream_errors_total{upstream, kind}`.
pub const UPSTREAM_ERRORS: &str = "kwanus_gateway_upstream_errors_total";
/// `kwanus_gateway_audit_records_total`.
pub const AUDIT_RECORDS: &str = "kwanus_gateway_audit_records_total";
/// `kwanus_gateway_audit_errors_total`.
pub const AUDIT_ERRORS: &str = "kwanus_gateway_audit_errors_total";
/// `kwanus_gateway_config_reloads_total{result}`.
pub const CONFIG_RELOADS: &str = "kwanus_gateway_config_reloads_total";
/// `kwanus_gateway_partner_info{partner, tier, stage}`.
pub const PARTNER_INFO: &str = "kwanus_gateway_partner_info";
/// `kwanus_gateway_connections_active`.
pub const CONNECTIONS_ACTIVE: &str = "kwanus_gateway_connections_active";
/// `kwanus_gateway_unauthenticated_limited_total`: requests refused by the per-address limit
/// on unauthenticated traffic (summarised in the trail, not recorded one by one).
pub const UNAUTHENTICATED_LIMITED: &str = "kwanus_gateway_unauthenticated_limited_total";
/// `kwanus_gateway_state_errors_total{backend, op}`: failed calls to the state backend.
pub const STATE_ERRORS: &str = "kwanus_gateway_state_errors_total";
/// Counter: fields a response contract removed, by route and data class.
pub const FIELDS_REMOVED: &str = "kwanus_gateway_fields_removed_total";
/// Counter: bodies that broke a contract, by route and direction (`request`, `response`).
pub const CONTRACT_VIOLATIONS: &str = "kwanus_gateway_contract_violations_total";
/// Counter: partners suspended automatically, by partner and reason (`misuse`).
pub const PARTNER_SUSPENSIONS: &str = "kwanus_gateway_partner_suspensions_total";
/// Gauge: 1 while a partner is suspended for misuse.
pub const PARTNER_SUSPENDED: &str = "kwanus_gateway_partner_suspended";
/// Gauge: 1 when a grant's review is overdue, by partner and permission.
pub const REVIEW_OVERDUE: &str = "kwanus_gateway_review_overdue";
/// Gauge: 1 while a safeguard is off, by safeguard (`safeguards::ALL` bounds the label).
pub const SAFEGUARD_DISABLED: &str = "kwanus_gateway_safeguard_disabled";
/// `kwanus_gateway_build_info{version}`.
pub const BUILD_INFO: &str = "kwanus_gateway_build_info";
/// `kwanus_gateway_config_last_reload_success_timestamp_seconds`.
pub const LAST_RELOAD_SUCCESS: &str = "kwanus_gateway_config_last_reload_success_timestamp_seconds";

/// Histogram buckets suited to a gateway: 100 µs to 10 s.
const BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// How often recorded histogram samples are folded into buckets (the exporter's own default).
const UPKEEP: std::time::Duration = std::time::Duration::from_secs(5);

/// One gateway's metrics (not the process-global recorder, so several gateways can run in
/// one process, as the tests do).
pub struct Metrics {
    recorder: PrometheusRecorder,
    audit: Option<Arc<Health>>,
    /// The state backend, whose failure counters are exported at each scrape.
    state: std::sync::OnceLock<Arc<crate::state::State>>,
    /// The handles each outcome shape updates, so a request costs one map lookup instead of
    /// building label sets and registering them anew.
    series: DashMap<SeriesKey, Series, crate::model::FastHash>,
    /// The governance gauges set at the last scrape (metric, labels), so one that no longer
    /// applies (a revoked grant, a removed partner) is set back to 0 instead of lingering.
    governance_set: std::sync::Mutex<std::collections::BTreeSet<Gauge>>,
}

/// One gauge series: its name and labels.
type Gauge = (&'static str, Vec<(&'static str, String)>);

/// Everything in an outcome that picks its series; every part comes from configuration or a
/// fixed set, so this map is bounded as the series are.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SeriesKey {
    partner: Option<Arc<str>>,
    route: Option<Arc<str>>,
    permission: Option<Arc<str>>,
    upstream: Option<Arc<str>>,
    status: u16,
    decision: Decision,
    code: Option<&'static str>,
    reason: &'static str,
    summarised: bool,
}

/// The handles one outcome shape updates.
struct Series {
    requests: metrics::Counter,
    duration: metrics::Histogram,
    /// Denials by code, or permission uses.
    decision: Option<metrics::Counter>,
    upstream_duration: Option<metrics::Histogram>,
    upstream_error: Option<metrics::Counter>,
    /// For requests refused by the per-address limit on unauthenticated traffic.
    unauthenticated_limited: Option<metrics::Counter>,
    /// For bodies that broke a request or response contract.
    contract_violation: Option<metrics::Counter>,
}

static META: Metadata<'static> = Metadata::new(module_path!(), metrics::Level::INFO, None);

// === impl Metrics ===

impl Metrics {
    /// A recorder with every SPEC metric described.
    pub fn new(audit: Option<Arc<Health>>) -> Arc<Self> {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&BUCKETS)
            .map(|b| b.build_recorder())
            // The bucket list is a non-empty constant; this branch cannot be taken.
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        let describe = |name: &'static str, unit: Option<Unit>, help: &'static str| {
            recorder.describe_counter(name.into(), unit, SharedString::from(help));
        };
        describe(
            REQUESTS,
            None,
            "Requests answered, by partner, route and status.",
        );
        describe(
            DENIALS,
            None,
            "Requests denied by the gateway, by partner and error code.",
        );
        describe(
            PERMISSION_USES,
            None,
            "Allowed requests, by partner and the permission used.",
        );
        describe(
            UPSTREAM_ERRORS,
            None,
            "Upstream failures, by upstream and kind.",
        );
        describe(AUDIT_RECORDS, None, "Audit records written to disk.");
        describe(
            AUDIT_ERRORS,
            None,
            "Audit write failures (the gateway fails closed meanwhile).",
        );
        describe(CONFIG_RELOADS, None, "Configuration reloads, by result.");
        describe(
            UNAUTHENTICATED_LIMITED,
            None,
            "Unauthenticated requests refused by the per-address limit (summarised in the trail).",
        );
        recorder.describe_histogram(
            REQUEST_DURATION.into(),
            Some(Unit::Seconds),
            "Time from request arrival to response head, by route.".into(),
        );
        recorder.describe_histogram(
            UPSTREAM_DURATION.into(),
            Some(Unit::Seconds),
            "Time from sending to an upstream to its response head, by upstream.".into(),
        );
        for (name, help) in [
            (
                REVIEW_OVERDUE,
                "1 when a grant's review date has passed, by partner and permission.",
            ),
            (CONNECTIONS_ACTIVE, "Open partner connections."),
            (
                SAFEGUARD_DISABLED,
                "1 while a safeguard is off (the configuration justifies it, or lacks what it needs), by safeguard.",
            ),
            (BUILD_INFO, "Build information."),
            (
                LAST_RELOAD_SUCCESS,
                "Unix time of the last successful configuration load.",
            ),
        ] {
            recorder.describe_gauge(name.into(), None, help.into());
        }
        describe(
            FIELDS_REMOVED,
            None,
            "Fields a response contract removed before the partner saw the body, by route and data class.",
        );
        describe(
            CONTRACT_VIOLATIONS,
            None,
            "Bodies that broke their route's contract, by route and direction (request, response).",
        );
        describe(
            PARTNER_SUSPENSIONS,
            None,
            "Partners suspended automatically, by partner and reason (misuse).",
        );
        describe(
            STATE_ERRORS,
            None,
            "Failed calls to the state backend (rate limits, idempotency), by backend and operation.",
        );
        let this = Arc::new(Self {
            recorder,
            audit,
            state: std::sync::OnceLock::new(),
            series: DashMap::default(),
            governance_set: std::sync::Mutex::default(),
        });
        this.gauge(BUILD_INFO, &[("version", env!("CARGO_PKG_VERSION").into())])
            .set(1.0);
        this.gauge(CONNECTIONS_ACTIVE, &[]).set(0.0);
        for result in ["ok", "error", "unchanged", "unapproved"] {
            this.counter(CONFIG_RELOADS, &[("result", result.into())])
                .increment(0);
        }
        this.counter(AUDIT_RECORDS, &[]).increment(0);
        this.counter(AUDIT_ERRORS, &[]).increment(0);
        this.counter(UNAUTHENTICATED_LIMITED, &[]).increment(0);
        this
    }

    fn counter(&self, name: &'static str, labels: &[(&'static str, String)]) -> metrics::Counter {
        self.recorder.register_counter(&key(name, labels), &META)
    }

    fn gauge(&self, name: &'static str, labels: &[(&'static str, String)]) -> metrics::Gauge {
        self.recorder.register_gauge(&key(name, labels), &META)
    }

    fn histogram(
        &self,
        name: &'static str,
        labels: &[(&'static str, String)],
    ) -> metrics::Histogram {
        self.recorder.register_histogram(&key(name, labels), &META)
    }

    /// Exports the failure counters of `state` from now on.
    pub fn watch_state(&self, state: Arc<crate::state::State>) {
        let _ = self.state.set(state);
    }

    /// Renders the Prometheus text exposition.
    pub fn render(&self) -> String {
        if let Some(state) = self.state.get() {
            for op in crate::state::Op::ALL {
                let labels = [
                    ("backend", state.backend().to_owned()),
                    ("op", op.as_str().to_owned()),
                ];
                self.counter(STATE_ERRORS, &labels)
                    .absolute(state.health().errors(op));
            }
        }
        if let Some(h) = &self.audit {
            self.counter(AUDIT_RECORDS, &[])
                .absolute(h.records.load(Ordering::Relaxed));
            self.counter(AUDIT_ERRORS, &[])
                .absolute(h.errors.load(Ordering::Relaxed) + h.lost.load(Ordering::Relaxed));
        }
        let handle = self.recorder.handle();
        handle.run_upkeep();
        handle.render()
    }

    /// Folds recorded histogram samples into their buckets every `UPKEEP` until `shutdown`.
    ///
    /// The recorder keeps raw samples until then; without this, a gateway nobody scrapes
    /// would hold every latency sample it ever recorded.
    pub async fn upkeep(self: Arc<Self>, mut shutdown: crate::shutdown::Signal) {
        let handle = self.recorder.handle();
        loop {
            tokio::select! {
                () = tokio::time::sleep(UPKEEP) => handle.run_upkeep(),
                () = shutdown.wait() => return,
            }
        }
    }

    /// Counts a reload by result (`ok`, `error`, `unchanged`).
    pub fn reload(&self, result: &'static str) {
        self.counter(CONFIG_RELOADS, &[("result", result.into())])
            .increment(1);
    }

    /// Publishes what a (new) snapshot switches off and when it was loaded (its partners are
    /// written at each scrape from the snapshot in force: `partners`).
    pub fn config_loaded(&self, new: &Snapshot) {
        for s in crate::safeguards::status(new) {
            self.gauge(
                SAFEGUARD_DISABLED,
                &[("safeguard", s.safeguard.as_str().to_owned())],
            )
            .set(if s.off.is_some() { 1.0 } else { 0.0 });
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.gauge(LAST_RELOAD_SUCCESS, &[]).set(now);
    }

    /// The text exposition of a scrape: the time-dependent governance gauges set, every
    /// registered series, then the per-partner families from the snapshot in force and the
    /// misuse detector.
    pub fn scrape(
        &self,
        snap: &Snapshot,
        now: std::time::SystemTime,
        misuse: &crate::governance::misuse::Detector,
    ) -> String {
        self.governance(snap, now);
        let mut out = self.render();
        let suspended: Vec<Arc<str>> = misuse.suspended().into_iter().map(|(id, _)| id).collect();
        partners::write(&mut out, snap, &suspended);
        out
    }

    /// `kwanus_gateway_review_overdue{partner,permission}`, set at each scrape: 1 for each grant
    /// whose review date, its own or its partner's, has passed; 0 for the others with a date.
    fn governance(&self, snap: &Snapshot, now: std::time::SystemTime) {
        let mut now_set = std::collections::BTreeSet::new();
        for record in &snap.partner_records {
            for (grant, due) in record.reviews() {
                let Some(due) = due else { continue };
                let labels = vec![
                    ("partner", record.id.to_string()),
                    ("permission", grant.name.to_string()),
                ];
                self.gauge(REVIEW_OVERDUE, &labels)
                    .set(if due <= now { 1.0 } else { 0.0 });
                now_set.insert((REVIEW_OVERDUE, labels));
            }
        }
        let mut last = self
            .governance_set
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for (name, labels) in last.difference(&now_set) {
            self.gauge(name, labels).set(0.0);
        }
        *last = now_set;
    }

    /// A partner connection opened (+1) or closed (-1).
    pub fn connection(&self, delta: f64) {
        self.gauge(CONNECTIONS_ACTIVE, &[]).increment(delta);
    }
}

impl OutcomeSink for Metrics {
    fn record(&self, o: &Outcome) -> Recorded {
        let key = SeriesKey::of(o);
        if let Some(series) = self.series.get(&key) {
            series.update(o);
        } else {
            let series = self.resolve(o);
            series.update(o);
            self.series.insert(key, series);
        }
        if let Some(removed) = &o.fields_removed {
            let route = o.route.as_deref().unwrap_or("-");
            for (class, n) in &removed.by_class {
                self.counter(
                    FIELDS_REMOVED,
                    &[
                        ("route", route.to_owned()),
                        ("data_class", class.to_string()),
                    ],
                )
                .increment(*n as u64);
            }
        }
        Recorded::Done
    }

    fn suspension(&self, event: &crate::governance::misuse::Event) {
        use crate::governance::misuse::Action;
        // Counted by the replica that suspended (a fleet's total is the sum over replicas).
        if let Action::Suspended {
            denials: Some(_), ..
        } = event.action
        {
            self.counter(
                PARTNER_SUSPENSIONS,
                &[
                    ("partner", event.partner.to_string()),
                    ("reason", "misuse".into()),
                ],
            )
            .increment(1);
        }
    }
}

fn key(name: &'static str, labels: &[(&'static str, String)]) -> Key {
    let labels: Vec<Label> = labels
        .iter()
        .map(|(k, v)| Label::new(*k, v.clone()))
        .collect();
    Key::from_parts(name, labels)
}
