//! The view of who and what the file names: upstreams, routes, partners and token issuers —
//! each field governed (some as notes) or operational.

use std::collections::{BTreeMap, BTreeSet};

use super::{Fields, date, flag, gov, note, op, ranked, set, sorted};
use crate::config::{defaults, file};
use crate::governance::Risk;
use crate::governance::model::{
    ContractModel, IssuerModel, KeyModel, Model, PartnerModel, PermissionKind, RouteModel,
    StageName, Wider,
};

pub(super) fn upstream_view(m: &mut Model, t: &mut Fields, u: &file::Upstream) {
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
    op(t, "upstreams[].http2", http2); // the protocol spoken, not what is reached
    m.upstreams.insert(
        gov(t, "upstreams[].name", name).clone(),
        gov(t, "upstreams[].url", url).clone(),
    );
    for (field, value) in [
        ("ca_file", gov(t, "upstreams[].ca_file", ca_file).clone()),
        (
            "client_cert",
            gov(t, "upstreams[].client_cert", client_cert).clone(),
        ),
        (
            "client_key",
            gov(t, "upstreams[].client_key", client_key).clone(),
        ),
        (
            "response_headers_remove",
            Some(gov(
                t,
                "upstreams[].response_headers_remove",
                response_headers_remove,
            ))
            .filter(|v| !v.is_empty())
            .map(|v| {
                let lower: Vec<String> = v.iter().map(|h| h.to_ascii_lowercase()).collect();
                sorted(&lower).join(",")
            }),
        ),
    ] {
        set(m, format!("upstreams.{name}.{field}"), value, Wider::Any);
    }
    set(
        m,
        format!("upstreams.{name}.allow_database_port"),
        Some(flag(*gov(
            t,
            "upstreams[].allow_database_port",
            allow_database_port,
        ))),
        ranked(&["false", "true"]),
    );
    note(
        m,
        format!("upstreams.{name}.justification"),
        gov(t, "upstreams[].justification", justification).as_deref(),
    );
}

/// A route; `max_body` is `limits.max_request_body_bytes` (the default of its body limit).
pub(super) fn route_view(m: &mut Model, t: &mut Fields, r: &file::Route, max_body: u64) {
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
    let mut passthrough_note = None;
    let response = gov(t, "routes[].response", response)
        .as_ref()
        .and_then(|c| {
            let file::Response {
                content_types,
                max_bytes,
                allow_fields,
                on_violation,
                passthrough,
            } = c;
            if let Some(why) = gov(t, "routes[].response.passthrough", passthrough) {
                // Answers pass untouched: no contract, and the reason shown.
                passthrough_note = Some(why.clone());
                return None;
            }
            Some(ContractModel {
                content_types: gov(t, "routes[].response.content_types", content_types)
                    .as_ref()
                    .map_or_else(
                        || BTreeSet::from(["application/json".to_owned()]),
                        |v| v.iter().map(|t| t.trim().to_ascii_lowercase()).collect(),
                    ),
                max_bytes: *gov(t, "routes[].response.max_bytes", max_bytes),
                allow_fields: gov(t, "routes[].response.allow_fields", allow_fields)
                    .as_ref()
                    .map(|v| v.iter().cloned().collect()),
                on_violation: gov(t, "routes[].response.on_violation", on_violation)
                    .clone()
                    .unwrap_or_else(|| "strip".into()),
            })
        });
    let route = RouteModel {
        method: gov(t, "routes[].method", method).clone(),
        path: gov(t, "routes[].path", path).clone(),
        permission: gov(t, "routes[].permission", permission).clone(),
        upstream: gov(t, "routes[].upstream", upstream).clone(),
        response,
        request_schema: gov(t, "routes[].request_schema", request_schema).clone(),
        request_schema_sha256: None,
        deprecated_since: gov(t, "routes[].deprecated_since", deprecated_since)
            .as_deref()
            .and_then(date),
        sunset: gov(t, "routes[].sunset", sunset).as_deref().and_then(date),
    };
    let name = gov(t, "routes[].name", name).clone();
    set(
        m,
        format!("routes.{name}.idempotency"),
        Some(
            gov(t, "routes[].idempotency", idempotency)
                .clone()
                .unwrap_or_else(|| {
                    let workflow =
                        m.permissions.get(&route.permission) == Some(&PermissionKind::Workflow);
                    defaults::route_idempotency(workflow).into()
                }),
        ),
        ranked(&["required", "optional", "none"]),
    );
    set(
        m,
        format!("routes.{name}.catch_all"),
        Some(flag(*gov(t, "routes[].catch_all", catch_all))),
        ranked(&["false", "true"]),
    );
    // What checking a body may cost, with the defaults filled in (1 MiB with a schema, else
    // the global limit; 100 000 values): raising either widens, from a default too.
    let default_bytes = if route.request_schema.is_some() {
        defaults::ROUTE_REQUEST_MAX_BYTES.min(max_body)
    } else {
        max_body
    };
    set(
        m,
        format!("routes.{name}.request_max_bytes"),
        Some(
            gov(t, "routes[].request_max_bytes", request_max_bytes)
                .unwrap_or(default_bytes)
                .to_string(),
        ),
        Wider::Higher,
    );
    set(
        m,
        format!("routes.{name}.request_max_values"),
        Some(
            gov(t, "routes[].request_max_values", request_max_values)
                .unwrap_or(defaults::ROUTE_REQUEST_MAX_VALUES)
                .to_string(),
        ),
        Wider::Higher,
    );
    note(
        m,
        format!("routes.{name}.justification"),
        gov(t, "routes[].justification", justification).as_deref(),
    );
    note(
        m,
        format!("routes.{name}.passthrough"),
        passthrough_note.as_deref(),
    );
    note(
        m,
        format!("routes.{name}.migration_url"),
        gov(t, "routes[].migration_url", migration_url).as_deref(),
    );
    m.routes.insert(name, route);
}

pub(super) fn partner_view(m: &mut Model, t: &mut Fields, p: &file::Partner) {
    let file::Partner {
        id,
        tier,
        stage,
        sunset,
        deprecated_since,
        migration_url,
        compliance_due,
        suspended_reason,
        suspended_until,
        review_due,
        risk,
        permissions,
        keys,
        client_cert_sha256,
        require_mtls,
        jwt_issuers,
        rate_per_second,
        burst,
    } = p;
    let id = gov(t, "partners[].id", id).clone();
    let mut grants = BTreeSet::new();
    let mut grant_reviews = BTreeMap::new();
    for g in gov(t, "partners[].permissions", permissions) {
        let name = match g {
            file::Grant::Name(n) => n.clone(),
            file::Grant::Table(table) => {
                let file::GrantTable {
                    name,
                    justification,
                    approved_by,
                    ticket,
                    review_due,
                } = table;
                let at = |field: &str| format!("partners.{id}.grants.{name}.{field}");
                note(
                    m,
                    at("justification"),
                    gov(t, "partners[].permissions[].justification", justification).as_deref(),
                );
                let approvers = gov(t, "partners[].permissions[].approved_by", approved_by);
                note(
                    m,
                    at("approved_by"),
                    Some(approvers.join(", ").as_str()).filter(|a| !a.is_empty()),
                );
                note(
                    m,
                    at("ticket"),
                    gov(t, "partners[].permissions[].ticket", ticket).as_deref(),
                );
                if let Some(d) = gov(t, "partners[].permissions[].review_due", review_due)
                    .as_ref()
                    .and_then(|d| date(&d.text()))
                {
                    grant_reviews.insert(name.clone(), d);
                }
                gov(t, "partners[].permissions[].name", name).clone()
            }
        };
        grants.insert(name);
    }
    let keys = gov(t, "partners[].keys", keys)
        .iter()
        .map(|k| {
            let file::Key {
                id,
                sha256,
                expires,
                revoked,
            } = k;
            let key = KeyModel {
                sha256: gov(t, "partners[].keys[].sha256", sha256).to_ascii_lowercase(),
                expires: gov(t, "partners[].keys[].expires", expires)
                    .as_deref()
                    .and_then(date),
                revoked: *gov(t, "partners[].keys[].revoked", revoked),
            };
            (gov(t, "partners[].keys[].id", id).clone(), key)
        })
        .collect();
    note(
        m,
        format!("partners.{id}.migration_url"),
        gov(t, "partners[].migration_url", migration_url).as_deref(),
    );
    note(
        m,
        format!("partners.{id}.suspended_reason"),
        gov(t, "partners[].suspended_reason", suspended_reason).as_deref(),
    );
    // A partner's own rate overrides its tier's, either way: any change counts.
    set(
        m,
        format!("partners.{id}.rate_per_second"),
        gov(t, "partners[].rate_per_second", rate_per_second).map(|r| r.to_string()),
        Wider::Any,
    );
    set(
        m,
        format!("partners.{id}.burst"),
        gov(t, "partners[].burst", burst).map(|b| b.to_string()),
        Wider::Any,
    );
    let partner = PartnerModel {
        tier: *gov(t, "partners[].tier", tier),
        // A stage that does not parse is refused at load; the view assumes the narrowest.
        stage: StageName::parse(gov(t, "partners[].stage", stage))
            .unwrap_or(StageName::EndOfSupport),
        sunset: gov(t, "partners[].sunset", sunset)
            .as_deref()
            .and_then(date),
        compliance_due: gov(t, "partners[].compliance_due", compliance_due)
            .as_ref()
            .and_then(|d| date(&d.text())),
        suspended_until: gov(t, "partners[].suspended_until", suspended_until)
            .as_ref()
            .and_then(|d| date(&d.text())),
        review_due: gov(t, "partners[].review_due", review_due)
            .as_ref()
            .and_then(|d| date(&d.text())),
        deprecated_since: gov(t, "partners[].deprecated_since", deprecated_since)
            .as_deref()
            .and_then(date),
        risk: gov(t, "partners[].risk", risk)
            .as_deref()
            .and_then(Risk::parse),
        grants: grants.into_iter().collect(),
        grant_reviews,
        keys,
        require_mtls: *gov(t, "partners[].require_mtls", require_mtls),
        jwt_issuers: gov(t, "partners[].jwt_issuers", jwt_issuers)
            .iter()
            .cloned()
            .collect(),
        client_certs: gov(t, "partners[].client_cert_sha256", client_cert_sha256)
            .iter()
            .map(|c| c.to_ascii_lowercase())
            .collect(),
    };
    m.partners.insert(id, partner);
}

pub(super) fn issuer_view(m: &mut Model, t: &mut Fields, j: &file::JwtIssuer) {
    let file::JwtIssuer {
        issuer,
        audiences,
        algorithms,
        jwks_file,
        secret,
        partner_claim,
        leeway,
    } = j;
    let model = IssuerModel {
        audiences: gov(t, "auth.jwt[].audiences", audiences)
            .iter()
            .cloned()
            .collect(),
        algorithms: gov(t, "auth.jwt[].algorithms", algorithms)
            .iter()
            .cloned()
            .collect(),
        partner_claim: gov(t, "auth.jwt[].partner_claim", partner_claim).clone(),
        leeway: gov(t, "auth.jwt[].leeway", leeway).clone(),
        jwks_file: gov(t, "auth.jwt[].jwks_file", jwks_file).clone(),
        jwks_sha256: None,
        secret_sha256: gov(t, "auth.jwt[].secret", secret)
            .as_ref()
            .map(|s| hex::encode(crate::digest::digest(s.as_bytes()))),
    };
    m.issuers
        .insert(gov(t, "auth.jwt[].issuer", issuer).clone(), model);
}
