//! Lifecycle dates, partners' and routes': the stage a partner's fields name, a route's
//! deprecation and sunset, and the migration link both send.

use super::*;

/// The stage a partner's lifecycle fields name, each date it needs present and parsed.
pub(super) fn compile_stage(p: &mut Problems, place: &str, l: Lifecycle) -> Option<Stage> {
    let sunset = l
        .sunset
        .and_then(|s| p.timestamp(&format!("{place}.sunset"), &s));
    let since = l
        .deprecated_since
        .and_then(|s| p.timestamp(&format!("{place}.deprecated_since"), &s));
    let compliance_due = l
        .compliance_due
        .and_then(|d| p.date(&format!("{place}.compliance_due"), &d));
    let suspended_until = l
        .suspended_until
        .and_then(|d| p.date(&format!("{place}.suspended_until"), &d));
    if l.stage != "deprecation" && sunset.is_some() && since.is_none() {
        p.bad(
            format!("{place}.deprecated_since"),
            "",
            "a sunset needs the date the partner was deprecated (before the sunset)",
        );
    }
    match l.stage.as_str() {
        "active" => Some(Stage::Active),
        "end_of_support" => Some(Stage::EndOfSupport),
        "maintenance" => {
            if compliance_due.is_none() {
                p.bad(
                    format!("{place}.compliance_due"),
                    "",
                    "maintenance needs the date compliance checks are due (after it, reads only until the date moves)",
                );
            }
            compliance_due.map(|compliance_due| Stage::Maintenance { compliance_due })
        }
        "suspended" => {
            if l.suspended_reason
                .as_deref()
                .is_none_or(|r| r.trim().is_empty())
            {
                p.bad(
                    format!("{place}.suspended_reason"),
                    "",
                    "say why the partner is suspended",
                );
                return None;
            }
            Some(Stage::Suspended {
                until: suspended_until,
            })
        }
        "deprecation" => {
            if sunset.is_none() {
                p.push(format!("{place}.sunset"), ProblemKind::MissingSunset);
            }
            match (since, sunset) {
                (Some(since), Some(sunset)) => in_order(p, place, since, sunset)
                    .map(|(since, sunset)| Stage::Deprecation { since, sunset }),
                (None, Some(_)) => {
                    p.bad(
                        format!("{place}.deprecated_since"),
                        "",
                        "deprecation needs the date the partner was deprecated (sent in Deprecation; before sunset)",
                    );
                    None
                }
                (_, None) => None,
            }
        }
        other => {
            p.push(
                format!("{place}.stage"),
                ProblemKind::NotOneOf {
                    value: other.to_owned(),
                    expected: "\"active\", \"maintenance\", \"deprecation\", \"end_of_support\", \"suspended\"",
                },
            );
            None
        }
    }
}

/// `deprecated_since` before `sunset`, partners' and routes' alike, or a problem at
/// `deprecated_since`.
fn in_order(
    p: &mut Problems,
    place: &str,
    since: SystemTime,
    sunset: SystemTime,
) -> Option<(SystemTime, SystemTime)> {
    if since < sunset {
        return Some((since, sunset));
    }
    p.bad(
        format!("{place}.deprecated_since"),
        "",
        "must be before sunset",
    );
    None
}

/// A `migration_url`: an absolute http(s) URL that fits in a `Link` header.
pub(super) fn check_migration_url(p: &mut Problems, place: &str, u: &str) -> bool {
    let ok = (u.starts_with("https://") || u.starts_with("http://"))
        && !u
            .chars()
            .any(|c| c.is_whitespace() || c == '>' || c.is_control());
    if !ok {
        p.bad(
            format!("{place}.migration_url"),
            u,
            "an absolute http(s) URL",
        );
    }
    ok
}

/// A route's `deprecated_since`, `sunset` and `migration_url`: all or none of the dates, the
/// first before the second.
pub(super) fn compile_route_deprecation(
    p: &mut Problems,
    place: &str,
    (since, sunset, link): (Option<String>, Option<String>, Option<String>),
) -> Option<Option<crate::model::Deprecation>> {
    let link = link.filter(|u| check_migration_url(p, place, u));
    let since = since.map(|s| p.timestamp(&format!("{place}.deprecated_since"), &s));
    let sunset = sunset.map(|s| p.timestamp(&format!("{place}.sunset"), &s));
    match (since, sunset) {
        (None, None) => {
            if link.is_some() {
                p.bad(
                    format!("{place}.migration_url"),
                    "",
                    "a migration link goes with a deprecated route: add deprecated_since and sunset",
                );
                return None;
            }
            Some(None)
        }
        (Some(Some(since)), Some(Some(sunset))) => {
            let (since, sunset) = in_order(p, place, since, sunset)?;
            Some(Some(crate::model::Deprecation {
                since,
                sunset,
                link: link.map(Arc::from),
            }))
        }
        (None, Some(_)) => {
            p.bad(
                format!("{place}.deprecated_since"),
                "",
                "a sunset needs the date the route was deprecated (sent in Deprecation; before the sunset)",
            );
            None
        }
        (Some(_), None) => {
            p.push(format!("{place}.sunset"), ProblemKind::MissingSunset);
            None
        }
        _ => None,
    }
}

/// The lifecycle fields of a partner, as written.
pub(super) struct Lifecycle {
    pub(super) stage: String,
    pub(super) sunset: Option<String>,
    pub(super) deprecated_since: Option<String>,
    pub(super) compliance_due: Option<file::DateField>,
    pub(super) suspended_reason: Option<String>,
    pub(super) suspended_until: Option<file::DateField>,
}
