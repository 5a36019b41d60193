//! The per-partner families, written at each scrape from the snapshot in force instead of held
//! as registered gauges: `kwanus_gateway_partner_info{partner,tier,stage}` (1 for every
//! configured partner) and `kwanus_gateway_partner_suspended{partner}` (1 while suspended for
//! misuse, else 0). Ten thousand partners were 20 000 registered series (7 MB) and 20 000 gauge
//! updates on every reload; now they cost only the scrape that shows them.

use std::fmt::Write as _;
use std::sync::Arc;

use super::{PARTNER_INFO, PARTNER_SUSPENDED};
use crate::auth::Partner;
use crate::snapshot::Snapshot;

/// Appends both families to a text exposition.
pub(super) fn write(out: &mut String, snap: &Snapshot, suspended: &[Arc<str>]) {
    type Rest = fn(&mut String, &Partner, &[Arc<str>]);
    let families: [(&str, &str, Rest); 2] = [
        (
            PARTNER_INFO,
            "Configured partners: 1 per partner, with tier and stage.",
            info,
        ),
        (
            PARTNER_SUSPENDED,
            "1 while a partner is suspended for misuse.",
            suspension,
        ),
    ];
    for (name, help, rest) in families {
        let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n");
        for p in &snap.partners {
            series(out, name, &p.id);
            rest(out, p, suspended);
        }
    }
}

/// The rest of a `partner_info` sample: tier, stage, 1.
fn info(out: &mut String, p: &Partner, _: &[Arc<str>]) {
    let _ = write!(out, ",tier=\"{}\",stage=\"", p.tier);
    escaped(out, p.stage.as_str());
    out.push_str("\"} 1\n");
}

/// The rest of a `partner_suspended` sample: 1 while suspended, else 0.
fn suspension(out: &mut String, p: &Partner, suspended: &[Arc<str>]) {
    let on = suspended.contains(&p.id);
    out.push_str(if on { "} 1\n" } else { "} 0\n" });
}

/// `name{partner="id"` (the label set still open).
fn series(out: &mut String, name: &str, partner: &str) {
    out.push_str(name);
    out.push_str("{partner=\"");
    escaped(out, partner);
    out.push('"');
}

/// A label value as the exposition format writes it (`\`, `"` and newlines escaped).
fn escaped(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        escaped(&mut out, "a\\b\"c\nd");
        assert_eq!(out, "a\\\\b\\\"c\\nd");
    }
}
