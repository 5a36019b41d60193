//! `audit summary`: counts over the verified trail, grouped by partner, code, route or day —
//! requests, allows, denials by code, 5xx, and the p50/p99 duration — streamed, one group's
//! counters and durations at a time in memory.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use serde_json::Value;

use super::query::{Filter, QueryError, each};

/// What the rows are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum By {
    /// One row per partner (`-` for requests without one).
    Partner,
    /// One row per error code (`-` for allowed requests).
    Code,
    /// One row per route (`-` for requests that matched none).
    Route,
    /// One row per UTC day.
    Day,
}

/// One group's counts.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Group {
    /// Requests.
    pub requests: u64,
    /// Allowed (forwarded or replayed).
    pub allows: u64,
    /// Denied, by code.
    pub denials: BTreeMap<String, u64>,
    /// Answered 5xx.
    pub server_errors: u64,
    /// Every request's duration in microseconds (sorted when the summary is made).
    durations: Vec<u64>,
}

// === impl Group ===

impl Group {
    /// The duration at quantile `q` (nearest rank), in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        if self.durations.is_empty() {
            return None;
        }
        let rank =
            ((q * self.durations.len() as f64).ceil() as usize).clamp(1, self.durations.len());
        Some(self.durations[rank - 1] as f64 / 1000.0)
    }

    fn add(&mut self, v: &Value) {
        self.requests += 1;
        match v.get("decision").and_then(Value::as_str) {
            Some("allow") => self.allows += 1,
            _ => {
                let code = v.get("code").and_then(Value::as_str).unwrap_or("-");
                *self.denials.entry(code.to_owned()).or_default() += 1;
            }
        }
        if v.get("status")
            .and_then(Value::as_u64)
            .is_some_and(|s| s >= 500)
        {
            self.server_errors += 1;
        }
        if let Some(us) = v.get("duration_us").and_then(Value::as_u64) {
            self.durations.push(us);
        }
    }
}

/// The request records of `paths` that match `filter` (which selects request records only),
/// grouped by `by`, in key order.
pub fn summarise(
    paths: &[PathBuf],
    filter: &Filter,
    by: By,
) -> Result<BTreeMap<String, Group>, QueryError> {
    let filter = Filter {
        kind: Some("request".into()),
        ..filter.clone()
    };
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    each(paths, &filter, false, |_, v, _| {
        let text = |name: &str| v.get(name).and_then(Value::as_str).unwrap_or("-");
        let key = match by {
            By::Partner => text("partner").to_owned(),
            By::Code => text("code").to_owned(),
            By::Route => text("route").to_owned(),
            By::Day => text("ts").chars().take(10).collect(),
        };
        groups.entry(key).or_default().add(&v);
        Ok(())
    })?;
    for g in groups.values_mut() {
        g.durations.sort_unstable();
    }
    Ok(groups)
}

/// Writes `groups` as a table: one row per group, then the total.
pub fn print(
    groups: &BTreeMap<String, Group>,
    by: By,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let name = match by {
        By::Partner => "PARTNER",
        By::Code => "CODE",
        By::Route => "ROUTE",
        By::Day => "DAY",
    };
    writeln!(
        out,
        "{name:<24}  {:>9}  {:>9}  {:>9}  {:>6}  {:>9}  {:>9}  DENIALS BY CODE",
        "REQUESTS", "ALLOWS", "DENIALS", "5XX", "P50 MS", "P99 MS"
    )?;
    let mut total = Group::default();
    for (key, g) in groups {
        row(out, key, g)?;
        total.requests += g.requests;
        total.allows += g.allows;
        total.server_errors += g.server_errors;
        for (code, n) in &g.denials {
            *total.denials.entry(code.clone()).or_default() += n;
        }
        total.durations.extend_from_slice(&g.durations);
    }
    total.durations.sort_unstable();
    row(out, "total", &total)
}

fn row(out: &mut impl Write, key: &str, g: &Group) -> std::io::Result<()> {
    let ms = |q| {
        g.quantile_ms(q)
            .map_or("-".to_owned(), |m| format!("{m:.2}"))
    };
    let denials: u64 = g.denials.values().sum();
    let by_code: Vec<String> = g.denials.iter().map(|(c, n)| format!("{c}={n}")).collect();
    let key: String = key.chars().flat_map(char::escape_default).collect();
    writeln!(
        out,
        "{key:<24}  {:>9}  {:>9}  {denials:>9}  {:>6}  {:>9}  {:>9}  {}",
        g.requests,
        g.allows,
        g.server_errors,
        ms(0.5),
        ms(0.99),
        by_code.join(" ")
    )
}
