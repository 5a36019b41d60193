//! `audit report`: one partner's record over a period, read from the verified trail, against
//! the tier-upgrade rule (workflows reliable, compliance clean, permissions minimal, risk low)
//! — each criterion with its number — and the signals that call for a downgrade.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::SystemTime;

use serde::Serialize;
use serde_json::Value;

use super::query::{Filter, QueryError};
use crate::model::Fault;

/// Thresholds of the upgrade rule.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    /// Highest share of workflow requests answered 5xx for "workflows reliable".
    pub max_workflow_5xx: f64,
    /// Highest share of denied requests for "risk low".
    pub max_denial_rate: f64,
}

/// What the configuration says about the partner (its grants, keys, risk, stage, kinds).
#[derive(Debug, Clone, Default)]
pub struct PartnerFacts {
    /// The permissions held.
    pub grants: BTreeSet<String>,
    /// Permission → kind, for every permission of the registry.
    pub kinds: BTreeMap<String, String>,
    /// Keys: (id, expires, revoked).
    pub keys: Vec<(String, Option<SystemTime>, bool)>,
    /// `low`, `medium`, `high`, if assessed.
    pub risk: Option<String>,
    /// The stage.
    pub stage: String,
    /// The tier.
    pub tier: i64,
    /// Grants whose review is overdue.
    pub overdue_reviews: Vec<String>,
}

/// One criterion of the rule with its number.
#[derive(Debug, Clone, Serialize)]
pub struct Criterion {
    /// Its name.
    pub name: &'static str,
    /// Met, not met, or not known for want of data.
    pub status: Status,
    /// Met (never without data).
    pub met: bool,
    /// The number behind it, in words.
    pub detail: String,
}

/// Where a criterion stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The record meets it.
    Met,
    /// The record does not.
    NotMet,
    /// The period holds nothing to judge it by: the verdict cannot be "ready".
    InsufficientData,
}

/// The report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// The partner.
    pub partner: String,
    /// Requests recorded.
    pub requests: u64,
    /// Allowed requests.
    pub allowed: u64,
    /// The partner's denials by code.
    pub denied: BTreeMap<String, u64>,
    /// Answers that were the gateway's or the upstream's fault, by code: not the partner's
    /// denials, and left out of its denial rate.
    pub not_the_partners: BTreeMap<String, u64>,
    /// Workflow requests and how many were answered 5xx.
    pub workflow_requests: u64,
    /// Workflow requests answered 5xx.
    pub workflow_5xx: u64,
    /// Permissions used by allowed requests.
    pub used: BTreeSet<String>,
    /// Permissions held but never used.
    pub unused: Vec<String>,
    /// Keys expired or expiring within 30 days (id, expiry).
    pub keys_near_expiry: Vec<(String, String)>,
    /// Automatic suspensions for misuse.
    pub suspensions: u64,
    /// The upgrade rule, criterion by criterion.
    pub criteria: Vec<Criterion>,
    /// Ready for a tier upgrade.
    pub ready: bool,
    /// What argues for a downgrade.
    pub downgrade_signals: Vec<String>,
}

/// Reads the partner's verified records since `since` and judges them against the rule.
pub fn report(
    paths: &[PathBuf],
    partner: &str,
    since: SystemTime,
    facts: &PartnerFacts,
    t: Thresholds,
) -> Result<Report, QueryError> {
    let mut r = Report {
        partner: partner.to_owned(),
        ..Report::default()
    };
    let filter = Filter {
        partner: Some(partner.to_owned()),
        since: Some(since),
        ..Filter::default()
    };
    super::query::each(paths, &filter, false, |_, v, _| {
        count(&mut r, facts, &v);
        Ok(())
    })?;
    judge(&mut r, facts, t, SystemTime::now());
    Ok(r)
}

fn count(r: &mut Report, facts: &PartnerFacts, v: &Value) {
    let s = |n: &str| v.get(n).and_then(Value::as_str);
    match s("kind") {
        Some("request") => {}
        Some("suspension") if s("action") == Some("suspended") => {
            r.suspensions += 1;
            return;
        }
        _ => return,
    }
    r.requests += 1;
    let status = v.get("status").and_then(Value::as_u64).unwrap_or(0);
    let permission = s("permission").unwrap_or("-");
    // Reliability is the upstream's: only requests that were forwarded (allowed) count.
    if facts.kinds.get(permission).map(String::as_str) == Some("workflow")
        && s("decision") == Some("allow")
    {
        r.workflow_requests += 1;
        r.workflow_5xx += u64::from(status >= 500);
    }
    if s("decision") == Some("allow") {
        r.allowed += 1;
        r.used.insert(permission.to_owned());
    } else if let Some(code) = s("code") {
        let theirs = crate::model::fault_of(code).is_none_or(|f| f == Fault::Partner);
        let tally = if theirs {
            &mut r.denied
        } else {
            &mut r.not_the_partners
        };
        *tally.entry(code.to_owned()).or_default() += 1;
    }
}

fn judge(r: &mut Report, facts: &PartnerFacts, t: Thresholds, now: SystemTime) {
    r.unused = facts.grants.difference(&r.used).cloned().collect();
    for (id, expires, revoked) in &facts.keys {
        if let (Some(e), false) = (expires, revoked)
            && e.duration_since(now)
                .map_or(true, |d| d <= crate::governance::REVIEW_WARNING)
        {
            r.keys_near_expiry.push((
                id.clone(),
                humantime::format_rfc3339_seconds(*e).to_string(),
            ));
        }
    }
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let wf = ratio(r.workflow_5xx, r.workflow_requests);
    let denials: u64 = r.denied.values().sum();
    // The partner's requests: those the gateway or the upstream failed say nothing of it.
    let judged = r.requests - r.not_the_partners.values().sum::<u64>();
    let denial_rate = ratio(denials, judged);
    let clean = facts.stage == "active" && facts.overdue_reviews.is_empty();
    let holds_workflows = facts
        .grants
        .iter()
        .any(|g| facts.kinds.get(g).map(String::as_str) == Some("workflow"));
    let criterion = |name, met: Option<bool>, detail: String| Criterion {
        name,
        status: match met {
            Some(true) => Status::Met,
            Some(false) => Status::NotMet,
            None => Status::InsufficientData,
        },
        met: met == Some(true),
        detail,
    };
    r.criteria = vec![
        if !holds_workflows {
            criterion(
                "workflows reliable",
                Some(true),
                "holds no workflow permission".into(),
            )
        } else if r.workflow_requests == 0 {
            criterion(
                "workflows reliable",
                None,
                "insufficient data: no workflow requests in the period".into(),
            )
        } else {
            criterion(
                "workflows reliable",
                Some(wf <= t.max_workflow_5xx),
                format!(
                    "{} of {} workflow requests answered 5xx ({:.2} %, at most {:.2} %)",
                    r.workflow_5xx,
                    r.workflow_requests,
                    wf * 100.0,
                    t.max_workflow_5xx * 100.0
                ),
            )
        },
        criterion(
            "compliance clean",
            Some(clean),
            format!(
                "stage {}; {} overdue review(s){}",
                facts.stage,
                facts.overdue_reviews.len(),
                if facts.overdue_reviews.is_empty() {
                    String::new()
                } else {
                    format!(": {}", facts.overdue_reviews.join(", "))
                }
            ),
        ),
        criterion(
            "permissions minimal",
            Some(r.unused.is_empty()),
            if r.unused.is_empty() {
                format!("all {} held permission(s) used", facts.grants.len())
            } else {
                format!("held but unused: {}", r.unused.join(", "))
            },
        ),
        criterion(
            "risk low",
            (judged > 0 || facts.risk.as_deref() != Some("low"))
                .then(|| facts.risk.as_deref() == Some("low") && denial_rate <= t.max_denial_rate),
            format!(
                "{}risk {}; {} of {} requests denied ({:.2} %, at most {:.2} %){}",
                if judged == 0 {
                    "insufficient data: "
                } else {
                    ""
                },
                facts.risk.as_deref().unwrap_or("not assessed"),
                denials,
                judged,
                denial_rate * 100.0,
                t.max_denial_rate * 100.0,
                if r.not_the_partners.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; {} answer(s) the gateway's or the upstream's fault left out",
                        r.requests - judged
                    )
                }
            ),
        ),
    ];
    r.ready = r.criteria.iter().all(|c| c.status == Status::Met) && facts.tier < 3;
    let misuse = r.denied.get("permission_denied").copied().unwrap_or(0)
        + r.denied.get("forbidden_route").copied().unwrap_or(0);
    for (cond, why) in [
        (
            !clean,
            "compliance: the partner is not in good standing (stage or overdue reviews)".to_owned(),
        ),
        (
            wf > t.max_workflow_5xx,
            format!(
                "workflow failures: {:.2} % of workflow requests failed",
                wf * 100.0
            ),
        ),
        (
            r.suspensions > 0 || misuse > 0,
            format!(
                "permission misuse: {misuse} denied permission or forbidden-route request(s), {} automatic suspension(s)",
                r.suspensions
            ),
        ),
    ] {
        if cond {
            r.downgrade_signals.push(why);
        }
    }
}
