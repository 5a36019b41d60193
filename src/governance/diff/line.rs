//! One line for people per change (the `diff` output and the reload record).

use super::Change;

impl Change {
    /// One line for people (and the reload record); control characters from configuration
    /// values are escaped, so nothing in a file can rewrite an approver's terminal.
    pub fn line(&self) -> String {
        self.raw_line()
            .chars()
            .flat_map(|c| {
                let escape = c.is_control();
                let mut out: Vec<char> = Vec::new();
                if escape {
                    out.extend(c.escape_default());
                } else {
                    out.push(c);
                }
                out
            })
            .collect()
    }

    fn raw_line(&self) -> String {
        let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
        match self {
            Self::PartnerAdded {
                partner,
                tier,
                grants,
            } => {
                format!(
                    "partner {partner} added (tier {tier}; {})",
                    grants.join(", ")
                )
            }
            Self::PartnerRemoved { partner } => format!("partner {partner} removed"),
            Self::GrantAdded {
                partner,
                permission,
            } => format!("partner {partner} gains {permission}"),
            Self::GrantRemoved {
                partner,
                permission,
            } => format!("partner {partner} loses {permission}"),
            Self::TierRaised { partner, from, to } => {
                format!("partner {partner} tier {from} -> {to} (up)")
            }
            Self::TierLowered { partner, from, to } => {
                format!("partner {partner} tier {from} -> {to} (down)")
            }
            Self::StageChanged {
                partner,
                from,
                to,
                backwards,
            } => format!(
                "partner {partner} stage {from} -> {to}{}",
                if *backwards { " (BACKWARDS)" } else { "" }
            ),
            Self::DateChanged {
                partner,
                field,
                from,
                to,
                ..
            } => {
                format!("partner {partner} {field} {} -> {}", opt(from), opt(to))
            }
            Self::RiskChanged { partner, from, to } => {
                format!("partner {partner} risk {} -> {}", opt(from), opt(to))
            }
            Self::KeyAdded { partner, key } => format!("partner {partner} key {key} added"),
            Self::KeyRevoked { partner, key } => format!("partner {partner} key {key} revoked"),
            Self::KeyRestored { partner, key } => format!("partner {partner} key {key} restored"),
            Self::KeyExpiryChanged {
                partner,
                key,
                from,
                to,
                ..
            } => {
                format!(
                    "partner {partner} key {key} expiry {} -> {}",
                    opt(from),
                    opt(to)
                )
            }
            Self::RouteAdded { route, permission } => format!("route {route} added ({permission})"),
            Self::RouteRemoved {
                route,
                losing,
                before_sunset,
            } => format!(
                "route {route} removed; BREAKING for: {}{}",
                list(losing),
                sunset_note(*before_sunset, losing)
            ),
            Self::RoutePermissionChanged {
                route,
                from,
                to,
                losing,
                callers,
                before_sunset,
            } => format!(
                "route {route} permission {from} -> {to}; BREAKING for: {}{}; callable by: {}",
                list(losing),
                sunset_note(*before_sunset, losing),
                list(callers)
            ),
            Self::RouteSunsetChanged {
                route,
                field,
                from,
                to,
                earlier,
            } => format!(
                "route {route} {field} {} -> {}{}",
                opt(from),
                opt(to),
                if *earlier { " (sooner)" } else { "" }
            ),
            Self::RouteTargetChanged { route, from, to } => format!("route {route} {from} -> {to}"),
            Self::ContractChanged {
                route,
                detail,
                loosened,
            } => format!(
                "route {route} contract {detail}{}",
                if *loosened { " (loosened)" } else { "" }
            ),
            Self::DataClassAdded { class } => format!("data class {class} added"),
            Self::DataClassRemoved { class } => {
                format!("data class {class} removed (its fields may leave)")
            }
            Self::DataClassChanged {
                class,
                detail,
                widened,
            } => format!(
                "data class {class} {detail}{}",
                if *widened { " (widened)" } else { "" }
            ),
            Self::PermissionChanged {
                permission,
                from,
                to,
            } => {
                format!("permission {permission} kind {} -> {}", opt(from), opt(to))
            }
            Self::GovernanceChanged { detail, .. } => format!("governance {detail}"),
            Self::ForbiddenChanged {
                what,
                value,
                removed,
            } => format!(
                "{what} {value} {}",
                if *removed {
                    "no longer refused"
                } else {
                    "refused"
                }
            ),
            Self::MtlsChanged {
                partner, detail, ..
            } => format!("partner {partner} {detail}"),
            Self::IssuerChanged { issuer, detail, .. } => format!("token issuer {issuer} {detail}"),
            Self::SettingChanged {
                setting, from, to, ..
            } => format!("setting {setting} {} -> {}", opt(from), opt(to)),
            Self::UpstreamMoved { upstream, from, to } => {
                format!("upstream {upstream} {from} -> {to}")
            }
            Self::NoteChanged { note, from, to } => format!(
                "note {note} {} -> {}",
                from.as_deref()
                    .map_or_else(|| "-".into(), |f| format!("{f:?}")),
                to.as_deref()
                    .map_or_else(|| "-".into(), |t| format!("{t:?}"))
            ),
            Self::PartnerIssuerChanged {
                partner,
                issuer,
                added,
            } => format!(
                "partner {partner} {} tokens of {issuer}",
                if *added {
                    "may now be named by"
                } else {
                    "no longer named by"
                }
            ),
        }
    }
}

/// Whether partners lose the route before its announced sunset (approval) or after it.
fn sunset_note(before_sunset: bool, losing: &[String]) -> &'static str {
    match (losing.is_empty(), before_sunset) {
        (true, _) => "",
        (false, true) => " (before its sunset)",
        (false, false) => " (after its sunset)",
    }
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "nobody".into()
    } else {
        v.join(", ")
    }
}
