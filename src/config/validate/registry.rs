//! The registries partners and routes are checked against: tiers, permissions and upstreams.

use super::*;

pub(super) fn compile_tiers(
    p: &mut Problems,
    tiers: BTreeMap<String, file::Tier>,
) -> BTreeMap<Tier, RateSettings> {
    let mut out = BTreeMap::new();
    for (key, t) in tiers {
        let place = format!("tiers.{key:?}");
        let file::Tier {
            rate_per_second,
            burst,
        } = t;
        let Some(tier) = key.parse().ok().and_then(Tier::new) else {
            p.bad(&place, &key, "tiers are \"1\", \"2\" and \"3\"");
            continue;
        };
        check_rate(p, &place, rate_per_second, burst);
        out.insert(
            tier,
            RateSettings {
                rate_per_second,
                burst,
            },
        );
    }
    out
}

/// A permission name: lower-case words separated by `:`, e.g. `reports:read`.
pub(super) fn check_permission_name(
    p: &mut Problems,
    place: impl std::fmt::Display,
    name: &str,
) -> bool {
    if name.contains(['*', '?', '[', ']', '{', '}', '|', '+', '^', '$']) {
        p.push(
            place.to_string(),
            ProblemKind::WildcardPermission(name.to_owned()),
        );
        return false;
    }
    let word = |w: &str| {
        !w.is_empty()
            && w.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
    };
    if !name.split(':').all(word) {
        p.bad(
            place.to_string(),
            name,
            "permission names are lower-case words joined by ':', e.g. \"reports:read\"",
        );
        return false;
    }
    true
}

pub(super) fn compile_permissions(
    p: &mut Problems,
    permissions: BTreeMap<String, file::Permission>,
) -> BTreeMap<Arc<str>, PermissionKind> {
    let mut out = BTreeMap::new();
    for (name, perm) in permissions {
        let place = format!("permissions.{name:?}");
        let file::Permission {
            kind,
            description: _,
        } = perm;
        let name_ok = check_permission_name(p, &place, &name);
        match PermissionKind::parse(&kind) {
            Some(k) if name_ok => {
                out.insert(Arc::from(name.as_str()), k);
            }
            Some(_) => {}
            None => p.push(
                format!("{place}.kind"),
                ProblemKind::NotOneOf {
                    value: kind,
                    expected: "\"read\", \"workflow\", \"write\", \"intelligence\"",
                },
            ),
        }
    }
    out
}

pub(super) fn compile_upstreams(
    p: &mut Problems,
    upstreams: Vec<file::Upstream>,
    connect_timeout: Duration,
) -> (Vec<Arc<Upstream>>, HashSet<String>) {
    let mut seen = HashMap::new();
    let mut out = Vec::new();
    let mut declared = HashSet::new();
    for (i, u) in upstreams.into_iter().enumerate() {
        let file::Upstream {
            name,
            url,
            ca_file,
            client_cert,
            client_key,
            http2,
            response_headers_remove,
            allow_database_port,
            justification,
        } = u;
        declared.insert(name.clone());
        let place = format!("upstreams[{i}]");
        for f in [&ca_file, &client_cert].into_iter().flatten() {
            p.hash_file(f);
        }
        check_database_port(
            p,
            &place,
            &url,
            allow_database_port,
            justification.as_deref(),
        );
        let client_cert = match (client_cert, client_key) {
            (Some(c), Some(k)) => Some((c.into(), k.into())),
            (None, None) => None,
            (c, _) => {
                p.bad(
                    format!("upstreams[{i}].client_cert"),
                    c.as_deref().unwrap_or(""),
                    "client_cert and client_key go together",
                );
                None
            }
        };
        let opts = UpstreamOptions {
            ca_file: ca_file.map(Into::into),
            client_cert,
            http2,
            connect_timeout,
            response_headers_remove: response_headers(p, i, response_headers_remove),
        };
        if name.is_empty() {
            p.bad(format!("{place}.name"), &name, "must not be empty");
        }
        let unique = p.unique(&mut seen, "upstream", &name, format!("{place}.name"));
        match Upstream::new(&name, &url, &opts) {
            Ok(up) if unique => out.push(Arc::new(up)),
            Ok(_) => {}
            Err(why) => p.push(
                format!("{place}.url"),
                ProblemKind::BadUrl { value: url, why },
            ),
        }
    }
    (out, declared)
}

/// `upstreams[i].response_headers_remove`: valid header names, lower-cased.
pub(super) fn response_headers(
    p: &mut Problems,
    i: usize,
    names: Vec<String>,
) -> Vec<http::HeaderName> {
    let mut out = Vec::with_capacity(names.len());
    for (j, name) in names.into_iter().enumerate() {
        match http::HeaderName::from_bytes(name.as_bytes()) {
            Ok(n) => out.push(n),
            Err(_) => p.bad(
                format!("upstreams[{i}].response_headers_remove[{j}]"),
                &name,
                "is not a valid header name",
            ),
        }
    }
    out
}

/// An upstream on a well-known database port is refused unless it says so and why: partners
/// never reach a database directly.
fn check_database_port(
    p: &mut Problems,
    place: &str,
    url: &str,
    allow: bool,
    justification: Option<&str>,
) {
    let port = url.parse::<http::Uri>().ok().and_then(|u| u.port_u16());
    let Some(port) = port.filter(|p| defaults::DATABASE_PORTS.contains(p)) else {
        return;
    };
    let justified = justification.is_some_and(|j| !j.trim().is_empty());
    if !(allow && justified) {
        p.bad(
            format!("{place}.url"),
            url,
            format!(
                "port {port} is a well-known database port: partners never reach a database directly; if this really is an HTTP service, set allow_database_port = true and a justification = \"...\""
            ),
        );
    }
}
