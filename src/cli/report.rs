//! `audit report`: the partner's facts from the configuration, its record from the trail, and
//! the verdict printed criterion by criterion.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use crate::audit::report::{PartnerFacts, Report, Status, Thresholds};
use crate::governance::model::Model;

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
    let since = match crate::audit::query::parse_when(&a.since, now) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("audit report: --since {e}");
            return ExitCode::from(super::EX_USAGE);
        }
    };
    // The view alone (an `approved.json`, or the file read without compiling it): an
    // officer's workstation has the trail and the approved copy, not the gateway's keys.
    let model = match super::governance::view(&a.config) {
        Ok(v) => v.model,
        Err(e) => {
            eprintln!("audit report: {e}");
            return ExitCode::from(super::EX_USAGE);
        }
    };
    let Some(facts) = facts(&model, &a.partner, now) else {
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

/// What the governance view says about `partner`.
fn facts(model: &Model, partner: &str, now: SystemTime) -> Option<PartnerFacts> {
    let p = model.partners.get(partner)?;
    Some(PartnerFacts {
        grants: p.grants.iter().cloned().collect(),
        kinds: model
            .permissions
            .iter()
            .map(|(n, k)| (n.clone(), k.as_str().to_owned()))
            .collect(),
        keys: p
            .keys
            .iter()
            .map(|(id, k)| (id.clone(), k.expires.map(|e| e.0), k.revoked))
            .collect(),
        risk: p.risk.map(|r| r.as_str().to_owned()),
        stage: p.stage.as_str().to_owned(),
        tier: p.tier,
        // Each grant is reviewed by its own date, else the partner's.
        overdue_reviews: p
            .grants
            .iter()
            .filter(|g| {
                p.grant_reviews
                    .get(*g)
                    .or(p.review_due.as_ref())
                    .is_some_and(|d| d.0 <= now)
            })
            .cloned()
            .collect(),
    })
}

fn print(r: &Report, since: &str, facts: &PartnerFacts) {
    println!(
        "partner {} (tier {}, {}), since {since}",
        r.partner, facts.tier, facts.stage
    );
    println!(
        "requests: {} ({} allowed, {} denied, {} failed by the gateway or the upstream)",
        r.requests,
        r.allowed,
        r.denied.values().sum::<u64>(),
        r.not_the_partners.values().sum::<u64>()
    );
    for (code, n) in &r.denied {
        println!("  denied {code}: {n}");
    }
    for (code, n) in &r.not_the_partners {
        println!("  {code}: {n} (the gateway's or the upstream's fault, not the partner's)");
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
        let mark = match c.status {
            Status::Met => "x",
            Status::NotMet => " ",
            Status::InsufficientData => "?",
        };
        println!("  [{mark}] {}: {}", c.name, c.detail);
    }
    println!(
        "verdict: {}",
        if r.ready {
            "ready for a tier upgrade (every criterion met)".to_owned()
        } else if facts.tier >= 3 {
            "already at tier 3".to_owned()
        } else if r
            .criteria
            .iter()
            .any(|c| c.status == Status::InsufficientData)
        {
            "not ready for a tier upgrade (insufficient data to judge every criterion)".to_owned()
        } else {
            "not ready for a tier upgrade".to_owned()
        }
    );
    for s in &r.downgrade_signals {
        println!("downgrade signal: {s}");
    }
}
