//! The registries partners are checked against: tiers, permissions, upstreams and the route allow-list.

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
pub(super) fn check_permission_name(p: &mut Problems, place: &str, name: &str) -> bool {
    if name.contains(['*', '?', '[', ']', '{', '}', '|', '+', '^', '$']) {
        p.push(place, ProblemKind::WildcardPermission(name.to_owned()));
        return false;
    }
    let word = |w: &str| {
        !w.is_empty()
            && w.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
    };
    if !name.split(':').all(word) {
        p.bad(
            place,
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
        let unique = p.unique(&mut seen, "upstream", &name, &format!("{place}.name"));
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

pub(super) fn compile_routes(
    p: &mut Problems,
    routes: Vec<file::Route>,
    known: &Known<'_>,
) -> RouteTable {
    let mut table = RouteTable::default();
    let mut names = HashMap::new();
    for (i, r) in routes.into_iter().enumerate() {
        let place = format!("routes[{i}]");
        let file::Route {
            name,
            method,
            path,
            permission,
            upstream,
            idempotency,
            catch_all,
            justification,
            response,
            request_schema,
            request_max_bytes,
            request_max_values,
            deprecated_since,
            sunset,
            migration_url,
        } = r;
        let deprecation = super::partners::compile_route_deprecation(
            p,
            &place,
            (deprecated_since, sunset, migration_url),
        );
        let mut ok = p.unique(&mut names, "route name", &name, &format!("{place}.name"));
        let request_limits = super::contract::compile_request_limits(
            p,
            &place,
            request_schema.is_some(),
            (request_max_bytes, request_max_values),
            known.max_body,
        );
        if name.is_empty() {
            p.bad(format!("{place}.name"), &name, "must not be empty");
            ok = false;
        }
        let method_ok = Method::from_bytes(method.as_bytes())
            .ok()
            .filter(|m| m.as_str().bytes().all(|b| b.is_ascii_uppercase()));
        if method_ok.is_none() {
            p.bad(
                format!("{place}.method"),
                &method,
                "write an upper-case HTTP method, e.g. \"GET\"",
            );
        }
        if !name.is_empty() && !crate::config::is_valid_id(&name) {
            p.bad(
                format!("{place}.name"),
                &name,
                "route names use only letters, digits, '_', '.' and '-'",
            );
            ok = false;
        }
        ok &= check_route_path(p, &format!("{place}.path"), &path, known.forbidden)
            && check_route_integrity(p, &place, &path, known, catch_all, justification.as_deref());
        let kind = check_permission_name(p, &format!("{place}.permission"), &permission)
            .then(|| known.permissions.get(permission.as_str()).copied())
            .flatten();
        if let (Some(PermissionKind::Read), Some(m)) = (kind, &method_ok)
            && *m != Method::GET
            && *m != Method::HEAD
        {
            p.bad(
                format!("{place}.permission"),
                &permission,
                format!(
                    "a read permission only on GET or HEAD; {m} changes data and needs a write, workflow or intelligence permission"
                ),
            );
            ok = false;
        }
        if kind.is_none() && !permission.contains('*') {
            p.push(
                format!("{place}.permission"),
                ProblemKind::UnknownPermission(permission.clone()),
            );
        }
        let up = known.upstreams.iter().position(|u| *u.name == *upstream);
        if up.is_none() && !known.declared_upstreams.contains(&upstream) {
            p.push(
                format!("{place}.upstream"),
                ProblemKind::UnknownUpstream(upstream.clone()),
            );
        }
        let workflow = kind == Some(PermissionKind::Workflow);
        let idem = match idempotency
            .as_deref()
            .unwrap_or_else(|| defaults::route_idempotency(workflow))
        {
            "none" => Some(Idempotency::None),
            "optional" => Some(Idempotency::Optional),
            "required" => Some(Idempotency::Required),
            other => {
                p.push(
                    format!("{place}.idempotency"),
                    ProblemKind::NotOneOf {
                        value: other.to_owned(),
                        expected: "\"none\", \"optional\", \"required\"",
                    },
                );
                None
            }
        };
        let justified = justification
            .as_deref()
            .is_some_and(|j| !j.trim().is_empty());
        if workflow && idem.is_some_and(|i| i != Idempotency::Required) && !justified {
            p.bad(
                format!("{place}.idempotency"),
                idempotency.as_deref().unwrap_or(""),
                "workflow triggers must be idempotent (a retried run must not run twice): remove this line (workflow routes default to \"required\"), or add justification = \"why this workflow may run twice\"",
            );
            ok = false;
        }
        if response.is_none() && !known.classes.is_empty() {
            p.bad(
                format!("{place}.response"),
                "",
                "data classes are configured, so every route filters its answers: add [routes.response] under this route, or [routes.response] with passthrough = \"why its answers need no filtering\"",
            );
            ok = false;
        }
        let response = response.map(|r| {
            super::contract::compile_response(p, &format!("{place}.response"), r, known.classes)
        });
        let request_schema = request_schema.map(|path| {
            super::contract::compile_request_schema(
                p,
                &format!("{place}.request_schema"),
                &path,
                method_ok.as_ref(),
            )
        });
        let (
            Some(method),
            Some(kind),
            Some(upstream_index),
            Some(idempotency),
            Some(request_limits),
            Some(deprecation),
            true,
        ) = (method_ok, kind, up, idem, request_limits, deprecation, ok)
        else {
            continue;
        };
        let (Some(response), Some(request_schema)) = (
            response.map_or(Some(None), |r| r.map(Some)),
            request_schema.map_or(Some(None), |r| r.map(Some)),
        ) else {
            continue;
        };
        let (response, passthrough) = match response {
            Some(super::contract::RouteResponse::Contract(c)) => (Some(c), None),
            Some(super::contract::RouteResponse::Passthrough(why)) => (None, Some(why)),
            None => (None, None),
        };
        let headers = [
            crate::auth::header_value(&name),
            crate::auth::header_value(&permission),
        ];
        let route = Route {
            headers,
            name: name.into(),
            method,
            template: path,
            permission: permission.into(),
            kind,
            upstream: upstream.into(),
            upstream_index,
            idempotency,
            response,
            passthrough,
            request_schema,
            request_limits,
            deprecation,
        };
        if let Err(why) = table.insert(route) {
            p.bad(format!("{place}.path"), "", why);
        }
    }
    table
}

/// A route path must be canonical, use whole-segment `{params}` and avoid forbidden prefixes.
pub(super) fn check_route_path(
    p: &mut Problems,
    place: &str,
    path: &str,
    forbidden: &crate::normalize::Forbidden,
) -> bool {
    let normal = match normalize_path(path) {
        Ok(n) => n,
        Err(e) => {
            p.bad(place, path, format!("not a valid route path: {e}"));
            return false;
        }
    };
    if normal.as_str() != path {
        p.bad(
            place,
            path,
            format!(
                "not in canonical form (requests are matched after normalisation); write {:?}",
                normal.as_str()
            ),
        );
        return false;
    }
    for seg in path.split('/') {
        let braces = seg.contains(['{', '}']);
        let whole = seg.starts_with('{') && seg.ends_with('}') && seg.len() > 2;
        if braces && !whole {
            p.bad(
                place,
                path,
                "a parameter must be a whole segment, e.g. /v1/reports/{id}",
            );
            return false;
        }
    }
    if let Some(prefix) = forbidden.prefix(path) {
        p.push(
            place,
            ProblemKind::UnderForbiddenPrefix {
                path: path.to_owned(),
                prefix: prefix.to_owned(),
            },
        );
        return false;
    }
    true
}

/// Route integrity beyond a valid path: a version segment first, no forbidden segment, and a
/// catch-all only where the route says so and why.
fn check_route_integrity(
    p: &mut Problems,
    place: &str,
    path: &str,
    known: &Known<'_>,
    catch_all: bool,
    justification: Option<&str>,
) -> bool {
    let mut ok = true;
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    let versioned = first
        .strip_prefix('v')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if known.versioned && !versioned {
        p.bad(
            format!("{place}.path"),
            path,
            "integrations use versioned endpoints: start the path with a version segment, e.g. /v1/ (or set server.require_versioned_routes = false)",
        );
        ok = false;
    }
    if let Some(seg) = known.forbidden.segment(path) {
        p.bad(
            format!("{place}.path"),
            path,
            format!("the segment {seg:?} is in forbidden_segments: no route reaches it"),
        );
        ok = false;
    }
    let has_catch_all = path.split('/').any(|s| s.starts_with("{*"));
    let justified = justification.is_some_and(|j| !j.trim().is_empty());
    if has_catch_all && !(catch_all && justified) {
        p.bad(
            format!("{place}.path"),
            path,
            "a catch-all {*name} binds everything under it to one permission: set catch_all = true and a justification = \"...\", or list the routes",
        );
        ok = false;
    }
    ok
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
