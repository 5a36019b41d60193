//! The per-partner families, written at each scrape from the snapshot in force instead of held
//! as registered gauges: `kwanus_gateway_partner_info{partner,tier,stage}` (1 for every
//! configured partner) and `kwanus_gateway_partner_suspended{partner}` (1 while suspended for
//! misuse, else 0). Ten thousand partners were 20 000 registered series (7 MB) and 20 000 gauge
//! updates on every reload; now they cost only the scrape that shows them.

use std::fmt::Write as _;
use std::sync::Arc;

use super::{PARTNER_INFO, PARTNER_SUSPENDED};
use crate::snapshot::Snapshot;

/// Appends both families to a text exposition.
pub(super) fn write(out: &mut String, snap: &Snapshot, suspended: &[Arc<str>]) {
    head(
        out,
        PARTNER_INFO,
        "Configured partners: 1 per partner, with tier and stage.",
    );
    for p in &snap.partners {
        out.push_str(PARTNER_INFO);
        out.push_str("{partner=\"");
        escaped(out, &p.id);
        let _ = write!(out, "\",tier=\"{}\",stage=\"", p.tier);
        escaped(out, p.stage.as_str());
        out.push_str("\"} 1\n");
    }
    head(
        out,
        PARTNER_SUSPENDED,
        "1 while a partner is suspended for misuse.",
    );
    for p in &snap.partners {
        out.push_str(PARTNER_SUSPENDED);
        out.push_str("{partner=\"");
        escaped(out, &p.id);
        let on = suspended.iter().any(|s| *s == p.id);
        out.push_str(if on { "\"} 1\n" } else { "\"} 0\n" });
    }
}

fn head(out: &mut String, name: &str, help: &str) {
    let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n");
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
