//! The lines of governance events: a partner suspended or its suspension lifted.

use std::time::SystemTime;

use serde::Serialize;

use super::record::timestamp;
use crate::governance::misuse::{Action, Event};

#[derive(Serialize)]
struct SuspensionLine<'a> {
    seq: u64,
    ts: &'a str,
    kind: &'static str,
    partner: &'a str,
    action: &'static str,
    /// `misuse` (suspended by the detector), `operator` or `expiry` (lifted).
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
        Action::Suspended { until, denials } => {
            ("suspended", "misuse", Some(timestamp(until)), Some(denials))
        }
        Action::Lifted { by_operator: true } => ("lifted", "operator", None, None),
        Action::Lifted { by_operator: false } => ("lifted", "expiry", None, None),
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
