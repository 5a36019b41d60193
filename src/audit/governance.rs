//! The lines of governance events: a configuration loaded (and who approved it), a partner
//! suspended or its suspension lifted.

use std::time::SystemTime;

use serde::Serialize;

use super::record::ConfigEvent;
use super::record::timestamp;
use crate::governance::misuse::{Action, Event};

#[derive(Serialize)]
struct ConfigLine<'a> {
    seq: u64,
    ts: &'a str,
    kind: &'static str,
    trigger: &'a str,
    result: &'a str,
    old_config_sha256: Option<&'a str>,
    new_config_sha256: Option<&'a str>,
    detail: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    diff: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    generation: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    governance_sha256: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signers: Option<&'a [crate::governance::approval::Signer]>,
    prev: &'a str,
}

/// Writes a `config` record (without its hash) to `out`.
pub(super) fn write_config(
    out: &mut Vec<u8>,
    seq: u64,
    prev: &str,
    c: &ConfigEvent,
) -> serde_json::Result<()> {
    let ts = timestamp(SystemTime::now());
    let approved = c.approved.as_ref();
    serde_json::to_writer(
        out,
        &ConfigLine {
            seq,
            ts: &ts,
            kind: "config",
            trigger: c.trigger.as_str(),
            result: c.result.as_str(),
            old_config_sha256: c.old_sha256.as_deref(),
            new_config_sha256: c.new_sha256.as_deref(),
            detail: c.detail.as_deref(),
            diff: &c.diff,
            generation: approved.map(|a| a.generation),
            governance_sha256: approved.map(|a| a.governance_sha256.as_str()),
            signers: approved.map(|a| a.signers.as_slice()),
            prev,
        },
    )
}

#[derive(Serialize)]
struct SuspensionLine<'a> {
    seq: u64,
    ts: &'a str,
    kind: &'static str,
    partner: &'a str,
    action: &'static str,
    /// `misuse` (suspended by this replica's detector), `fleet` (by another replica's, or
    /// lifted by another replica's operator), `operator` or `expiry` (lifted).
    by: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    until: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    denials: Option<u32>,
    prev: &'a str,
}

/// Writes a `suspension` record (without its hash) to `out`.
pub(super) fn write_suspension(
    out: &mut Vec<u8>,
    seq: u64,
    prev: &str,
    e: &Event,
) -> serde_json::Result<()> {
    let ts = timestamp(SystemTime::now());
    let (action, by, until, denials) = match e.action {
        Action::Suspended {
            until,
            denials: Some(denials),
        } => ("suspended", "misuse", Some(timestamp(until)), Some(denials)),
        Action::Suspended {
            until,
            denials: None,
        } => ("suspended", "fleet", Some(timestamp(until)), None),
        Action::Lifted { by } => ("lifted", by.as_str(), None, None),
    };
    serde_json::to_writer(
        out,
        &SuspensionLine {
            seq,
            ts: &ts,
            kind: "suspension",
            partner: &e.partner,
            action,
            by,
            until,
            denials,
            prev,
        },
    )
}
