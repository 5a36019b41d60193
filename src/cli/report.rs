//! `audit report`: the partner's facts from the configuration, its record from the trail, and
//! the verdict printed criterion by criterion.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use crate::audit::report::{PartnerFacts, Report, Thresholds};
use crate::snapshot::Snapshot;

/// The command's arguments.
pub(super) struct Args {
    pub(super) paths: Vec<PathBuf>,
    pub(super) partner: String,
    pub(super) since: String,
    pub(super) config: PathBuf,
    pub(super) thresholds: Thresholds,
    pub(super) json: bool,
}

pub(super) fn run(a: Args) -> ExitCode {
    let now = SystemTime::now();
    let since = match humantime::parse_duration(&a.since) {
        Ok(d) => now.checked_sub(d).unwrap_or(SystemTime::UNIX_EPOCH),
        Err(_) => match humantime::parse_rfc3339_weak(&a.since) {
            Ok(t) => t,
            Err(_) => {
                eprintln!("audit report: --since takes a duration (90d) or an RFC 3339 instant");
                return ExitCode::from(super::EX_USAGE);
            }
        },
    };
    let snap = match crate::config::load(&a.config) {
        Ok(s) => s,
        Err(e) => {
            super::report(&a.config, &e);
            return ExitCode::from(super::EX_USAGE);
        }
    };
    let Some(facts) = facts(&snap, &a.partner, now) else {
        eprintln!(
            "audit report: no partner {:?} in {}",
            a.partner,
            a.config.display()
        );
        return ExitCode::from(super::EX_USAGE);
    };
    match crate::audit::report::report(&a.paths, &a.partner, since, &facts, a.thresholds) {
        Ok(r) if a.json => {
            println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Ok(r) => {
            print(&r, &a.since, &facts);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("audit report: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What the configuration says about `partner`.
fn facts(snap: &Snapshot, partner: &str, now: SystemTime) -> Option<PartnerFacts> {
    let p = snap.partner_index.get(partner)?;
    let record = snap.partner_records.iter().find(|r| &*r.id == partner);
    let model = snap.model.partners.get(partner);
    Some(PartnerFacts {
        grants: p.permissions.iter().map(|g| g.to_string()).collect(),
        kinds: snap
            .permissions
            .iter()
            .map(|(n, k)| (n.to_string(), k.as_str().to_owned()))
            .collect(),
        keys: model
            .map(|m| {
                m.keys
                    .iter()
                    .map(|(id, k)| {
                        let expires = k.expires.map(|e| e.0);
                        (id.clone(), expires, k.revoked)
                    })
                    .collect()
            })
            .unwrap_or_default(),
        risk: record.and_then(|r| r.risk).map(|r| r.as_str().to_owned()),
        stage: p.stage.as_str().to_owned(),
        tier: i64::from(p.tier.get()),
        overdue_reviews: record
            .map(|r| {
                r.reviews()
                    .filter(|(_, due)| due.is_some_and(|d| d <= now))
                    .map(|(g, _)| g.name.to_string())
                    .collect()
            })
            .unwrap_or_default(),
    })
}

fn print(r: &Report, since: &str, facts: &PartnerFacts) {
    println!(
        "partner {} (tier {}, {}), since {since}",
        r.partner, facts.tier, facts.stage
    );
    println!(
        "requests: {} ({} allowed, {} denied)",
        r.requests,
        r.allowed,
        r.requests - r.allowed
    );
    for (code, n) in &r.denied {
        println!("  denied {code}: {n}");
    }
    println!(
        "workflow requests: {} ({} answered 5xx)",
        r.workflow_requests, r.workflow_5xx
    );
    println!(
        "permissions held but unused: {}",
        if r.unused.is_empty() {
            "none".into()
        } else {
            r.unused.join(", ")
        }
    );
    for (id, at) in &r.keys_near_expiry {
        println!("key {id} expires {at} (within 30 days, or already)");
    }
    println!("automatic suspensions: {}", r.suspensions);
    println!("tier upgrade rule:");
    for c in &r.criteria {
        println!(
            "  [{}] {}: {}",
            if c.met { "x" } else { " " },
            c.name,
            c.detail
        );
    }
    println!(
        "verdict: {}",
        if r.ready {
            "ready for a tier upgrade (every criterion met)".to_owned()
        } else if facts.tier >= 3 {
            "already at tier 3".to_owned()
        } else {
            "not ready for a tier upgrade".to_owned()
        }
    );
    for s in &r.downgrade_signals {
        println!("downgrade signal: {s}");
    }
}
