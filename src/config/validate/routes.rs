//! `[[routes]]`: the allow-list partners are decided against — each route's path, method,
//! permission, upstream, contracts and deprecation, and the integrity rules of its path.

use super::registry::check_permission_name;
use super::*;

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
        let deprecation = super::lifecycle::compile_route_deprecation(
            p,
            &place,
            (deprecated_since, sunset, migration_url),
        );
        let mut ok = p.unique(&mut names, "route name", &name, format!("{place}.name"));
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
        let kind = check_permission_name(p, format!("{place}.permission"), &permission)
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
