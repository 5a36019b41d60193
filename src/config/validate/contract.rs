//! `[[data_classes]]`, `[routes.response]` and `routes.request_schema`: compiled patterns,
//! JSON-only media types, a bounded buffer, and schemas that compile.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use super::{Problems, defaults, file};
use crate::contract::{
    DataClasses, FieldPattern, OnViolation, PatternSet, RequestLimits, RequestSchema,
    ResponseContract, is_json_media_type,
};
use crate::policy::PermissionKind;

/// Compiles the data classes; a class naming an unknown permission is a problem.
pub(super) fn compile_data_classes(
    p: &mut Problems,
    classes: Vec<file::DataClass>,
    permissions: &BTreeMap<Arc<str>, PermissionKind>,
) -> Arc<DataClasses> {
    let mut out = DataClasses::default();
    let mut names = HashMap::new();
    for (i, c) in classes.into_iter().enumerate() {
        let place = format!("data_classes[{i}]");
        let file::DataClass {
            name,
            fields,
            allowed_for,
        } = c;
        let mut ok = p.unique(&mut names, "data class", &name, format!("{place}.name"));
        if !crate::config::is_valid_id(&name) {
            p.bad(
                format!("{place}.name"),
                &name,
                "data class names use only letters, digits, '_', '.' and '-'",
            );
            ok = false;
        }
        if fields.is_empty() {
            p.bad(
                format!("{place}.fields"),
                "[]",
                "list the fields of the class, e.g. [\"/**/raw_text\"]",
            );
            ok = false;
        }
        let patterns = compile_patterns(p, &format!("{place}.fields"), &fields);
        for (j, perm) in allowed_for.iter().enumerate() {
            if !permissions.contains_key(perm.as_str()) {
                p.push(
                    format!("{place}.allowed_for[{j}]"),
                    super::ProblemKind::UnknownPermission(perm.clone()),
                );
                ok = false;
            }
        }
        if let (Some(patterns), true) = (patterns, ok) {
            let allowed = allowed_for.into_iter().map(Arc::from).collect();
            out.push(name.into(), patterns, allowed);
        }
    }
    Arc::new(out)
}

/// What a route's `[routes.response]` says: a contract, or a justified passthrough.
pub(super) enum RouteResponse {
    /// Answers are held and filtered.
    Contract(ResponseContract),
    /// Answers pass untouched, for this reason.
    Passthrough(Arc<str>),
}

/// Compiles a route's `[routes.response]`.
pub(super) fn compile_response(
    p: &mut Problems,
    place: &str,
    r: file::Response,
    classes: &Arc<DataClasses>,
) -> Option<RouteResponse> {
    let file::Response {
        content_types,
        max_bytes,
        allow_fields,
        on_violation,
        passthrough,
    } = r;
    if let Some(why) = passthrough {
        let contract_fields = content_types.is_some()
            || max_bytes.is_some()
            || allow_fields.is_some()
            || on_violation.is_some();
        if why.trim().is_empty() {
            p.bad(
                format!("{place}.passthrough"),
                &why,
                "say why this route's answers need no filtering, or remove passthrough to filter them",
            );
            return None;
        }
        if contract_fields {
            p.bad(
                format!("{place}.passthrough"),
                &why,
                "a passthrough route has no contract: remove passthrough, or the contract's fields (content_types, max_bytes, allow_fields, on_violation)",
            );
            return None;
        }
        return Some(RouteResponse::Passthrough(why.into()));
    }
    let mut ok = true;
    let content_types: Vec<String> = content_types.map_or_else(
        || {
            defaults::RESPONSE_CONTENT_TYPES
                .iter()
                .map(|s| (*s).to_owned())
                .collect()
        },
        |v| v.iter().map(|t| t.trim().to_ascii_lowercase()).collect(),
    );
    if content_types.is_empty() {
        p.bad(
            format!("{place}.content_types"),
            "[]",
            "list at least one media type, e.g. [\"application/json\"]",
        );
        ok = false;
    }
    for (i, t) in content_types.iter().enumerate() {
        if !is_json_media_type(t) {
            p.bad(
                format!("{place}.content_types[{i}]"),
                t,
                "only JSON bodies can be checked field by field: use application/json or a type ending in +json",
            );
            ok = false;
        }
    }
    let max_bytes = max_bytes.unwrap_or(defaults::RESPONSE_MAX_BYTES);
    if max_bytes == 0 || max_bytes > defaults::RESPONSE_MAX_BYTES_CEILING {
        p.bad(
            format!("{place}.max_bytes"),
            &max_bytes.to_string(),
            format!(
                "must be between 1 and {} (each response is held whole while it is checked)",
                defaults::RESPONSE_MAX_BYTES_CEILING
            ),
        );
        ok = false;
    }
    let allow_fields = match allow_fields {
        None => Some(None),
        Some(v) if v.is_empty() => {
            p.bad(
                format!("{place}.allow_fields"),
                "[]",
                "list the fields partners may receive, or leave allow_fields out",
            );
            None
        }
        Some(v) => compile_patterns(p, &format!("{place}.allow_fields"), &v).map(|pats| {
            let mut set = PatternSet::exact();
            for f in pats {
                set.push(f, crate::contract::OUTSIDE_ALLOW_LIST);
            }
            Some(set)
        }),
    };
    let on_violation = match on_violation
        .as_deref()
        .unwrap_or(defaults::RESPONSE_ON_VIOLATION)
    {
        "strip" => Some(OnViolation::Strip),
        "reject" => Some(OnViolation::Reject),
        other => {
            p.push(
                format!("{place}.on_violation"),
                super::ProblemKind::NotOneOf {
                    value: other.to_owned(),
                    expected: "\"strip\", \"reject\"",
                },
            );
            None
        }
    };
    let (Some(allow_fields), Some(on_violation), true) = (allow_fields, on_violation, ok) else {
        return None;
    };
    Some(RouteResponse::Contract(ResponseContract {
        classes: classes.clone(),
        content_types,
        max_bytes: usize::try_from(max_bytes).unwrap_or(usize::MAX),
        allow_fields,
        on_violation,
    }))
}

/// Reads and compiles a route's `request_schema`.
pub(super) fn compile_request_schema(
    p: &mut Problems,
    place: &str,
    path: &str,
    method: Option<&http::Method>,
) -> Option<RequestSchema> {
    if method.is_some_and(|m| *m == http::Method::GET || *m == http::Method::HEAD) {
        p.bad(
            place,
            path,
            "GET and HEAD requests carry no body: a request schema belongs on a write or workflow route",
        );
        return None;
    }
    let bytes = match crate::files::read_named(Path::new(path)) {
        Ok(b) => {
            p.read(path, &b);
            b
        }
        Err(e) => {
            p.bad(place, path, format!("cannot read the schema: {e}"));
            return None;
        }
    };
    match RequestSchema::compile(&bytes) {
        Ok(s) => Some(s),
        Err(e) => {
            p.bad(place, path, e.to_string());
            None
        }
    }
}

/// A route's `request_max_bytes` and `request_max_values`.
pub(super) fn compile_request_limits(
    p: &mut Problems,
    place: &str,
    schema: bool,
    (max_bytes, max_values): (Option<u64>, Option<u64>),
    max_body: u64,
) -> Option<RequestLimits> {
    let mut ok = true;
    let default_bytes = if schema {
        defaults::ROUTE_REQUEST_MAX_BYTES.min(max_body)
    } else {
        max_body
    };
    let max_bytes = max_bytes.unwrap_or(default_bytes);
    if max_bytes == 0 || max_bytes > max_body {
        p.bad(
            format!("{place}.request_max_bytes"),
            &max_bytes.to_string(),
            format!("must be between 1 and limits.max_request_body_bytes ({max_body})"),
        );
        ok = false;
    }
    if max_values.is_some() && !schema {
        p.bad(
            format!("{place}.request_max_values"),
            &max_values.unwrap_or_default().to_string(),
            "applies to routes with a request_schema only: remove it, or add the schema",
        );
        ok = false;
    }
    let max_values = max_values.unwrap_or(defaults::ROUTE_REQUEST_MAX_VALUES);
    if max_values == 0 || max_values > defaults::ROUTE_REQUEST_MAX_VALUES_CEILING {
        p.bad(
            format!("{place}.request_max_values"),
            &max_values.to_string(),
            format!(
                "must be between 1 and {}",
                defaults::ROUTE_REQUEST_MAX_VALUES_CEILING
            ),
        );
        ok = false;
    }
    ok.then(|| RequestLimits {
        max_bytes,
        max_values: usize::try_from(max_values).unwrap_or(usize::MAX),
    })
}

fn compile_patterns(p: &mut Problems, place: &str, fields: &[String]) -> Option<Vec<FieldPattern>> {
    let mut out = Vec::with_capacity(fields.len());
    let mut ok = true;
    for (i, f) in fields.iter().enumerate() {
        match FieldPattern::parse(f) {
            Ok(pat) => out.push(pat),
            Err(e) => {
                p.bad(format!("{place}[{i}]"), f, e.to_string());
                ok = false;
            }
        }
    }
    ok.then_some(out)
}
