//! The governance view of a parsed configuration file (`governance::model::Model`), built from
//! the file's own types so that an old approved copy yields its model without reading the files
//! it names. Dates are normalised to RFC 3339 so formatting never counts as a change.

use std::collections::{BTreeMap, BTreeSet};

use super::file;
use crate::governance::model::{
    ClassModel, ContractModel, GovernanceModel, IssuerModel, KeyModel, Model, PartnerModel,
    RouteModel, Setting, Wider,
};

/// The model of configuration text; `Err` when it does not parse.
pub fn of_text(text: &str) -> Result<Model, String> {
    let f: file::File = toml::from_str(text).map_err(|e| e.to_string())?;
    Ok(of(&f))
}

/// The model of a parsed file.
pub(super) fn of(f: &file::File) -> Model {
    let partners = f
        .partners
        .iter()
        .map(|p| {
            let keys = p
                .keys
                .iter()
                .map(|k| {
                    let key = KeyModel {
                        sha256: k.sha256.to_ascii_lowercase(),
                        expires: k.expires.as_deref().map(date),
                        revoked: k.revoked,
                    };
                    (k.id.clone(), key)
                })
                .collect();
            let model = PartnerModel {
                tier: p.tier,
                stage: p.stage.clone(),
                sunset: p.sunset.as_deref().map(date),
                compliance_due: p.compliance_due.as_ref().map(|d| date(&d.text())),
                suspended_until: p.suspended_until.as_ref().map(|d| date(&d.text())),
                risk: p.risk.clone(),
                grants: p.permissions.iter().map(|g| g.name().to_owned()).collect(),
                keys,
                require_mtls: p.require_mtls,
                jwt_issuers: p.jwt_issuers.iter().cloned().collect(),
                client_certs: p
                    .client_cert_sha256
                    .iter()
                    .map(|c| c.to_ascii_lowercase())
                    .collect(),
            };
            (p.id.clone(), model)
        })
        .collect();
    let routes = f
        .routes
        .iter()
        .map(|r| {
            let response = r.response.as_ref().map(|c| ContractModel {
                content_types: c.content_types.as_ref().map_or_else(
                    || BTreeSet::from(["application/json".to_owned()]),
                    |v| v.iter().map(|t| t.trim().to_ascii_lowercase()).collect(),
                ),
                max_bytes: c.max_bytes,
                allow_fields: c.allow_fields.as_ref().map(|v| v.iter().cloned().collect()),
                on_violation: c.on_violation.clone().unwrap_or_else(|| "strip".into()),
            });
            let model = RouteModel {
                method: r.method.clone(),
                path: r.path.clone(),
                permission: r.permission.clone(),
                upstream: r.upstream.clone(),
                response,
                request_schema: r.request_schema.clone(),
                request_schema_sha256: None,
            };
            (r.name.clone(), model)
        })
        .collect();
    let data_classes = f
        .data_classes
        .iter()
        .map(|c| {
            let model = ClassModel {
                fields: c.fields.iter().cloned().collect(),
                allowed_for: c.allowed_for.iter().cloned().collect(),
            };
            (c.name.clone(), model)
        })
        .collect();
    let permissions = f
        .permissions
        .iter()
        .map(|(n, p)| (n.clone(), p.kind.clone()))
        .collect();
    let governance = f
        .governance
        .as_ref()
        .map_or_else(GovernanceModel::default, |g| GovernanceModel {
            enforce_approvals: g.enforce_approvals,
            approvals_dir: g.approvals_dir.clone(),
            require_grant_metadata: g.require_grant_metadata,
            bodies: g
                .bodies
                .iter()
                .map(|(b, keys)| {
                    (
                        b.clone(),
                        keys.iter().map(|k| k.trim().to_ascii_lowercase()).collect(),
                    )
                })
                .collect::<BTreeMap<_, _>>(),
        });
    let lower = |v: &Option<Vec<String>>, default: &[&str]| -> BTreeSet<String> {
        match v {
            Some(v) => v.iter().map(|s| s.to_ascii_lowercase()).collect(),
            None => default.iter().map(|s| (*s).to_owned()).collect(),
        }
    };
    let issuers = f
        .auth
        .jwt
        .iter()
        .map(|j| {
            let model = IssuerModel {
                audiences: j.audiences.iter().cloned().collect(),
                algorithms: j.algorithms.iter().cloned().collect(),
                partner_claim: j.partner_claim.clone(),
                leeway: j.leeway.clone(),
                jwks_file: j.jwks_file.clone(),
                jwks_sha256: None,
                secret_sha256: j
                    .secret
                    .as_ref()
                    .map(|s| hex::encode(crate::digest::digest(s.as_bytes()))),
            };
            (j.issuer.clone(), model)
        })
        .collect();
    let upstreams = f
        .upstreams
        .iter()
        .map(|u| (u.name.clone(), u.url.clone()))
        .collect();
    Model {
        settings: settings(f),
        upstreams,
        issuers,
        partners,
        routes,
        data_classes,
        permissions,
        governance,
        forbidden: lower(&f.forbidden, &super::defaults::FORBIDDEN),
        forbidden_segments: lower(&f.forbidden_segments, &super::defaults::FORBIDDEN_SEGMENTS),
    }
}

/// The settings that widen access when changed one way (see `governance::model::Setting`).
fn settings(f: &file::File) -> BTreeMap<String, Setting> {
    let mut out = BTreeMap::new();
    let mut put = |name: String, value: Option<String>, wider: Wider| {
        out.insert(name, Setting { value, wider });
    };
    let secs = |d: &str| {
        humantime::parse_duration(d)
            .map(|d| d.as_secs_f64().to_string())
            .unwrap_or_else(|_| d.to_owned())
    };
    for (tier, t) in &f.tiers {
        put(
            format!("tiers.{tier}.rate_per_second"),
            t.rate_per_second.map(|r| r.to_string()),
            Wider::Higher,
        );
        // Unset is one second's worth, not unlimited: any change counts.
        put(
            format!("tiers.{tier}.burst"),
            t.burst.map(|b| b.to_string()),
            Wider::Any,
        );
    }
    for p in &f.partners {
        // A partner's own rate overrides its tier's, either way: any change counts.
        put(
            format!("partners.{}.rate_per_second", p.id),
            p.rate_per_second.map(|r| r.to_string()),
            Wider::Any,
        );
        put(
            format!("partners.{}.burst", p.id),
            p.burst.map(|b| b.to_string()),
            Wider::Any,
        );
    }
    put(
        "admin.token_sha256".into(),
        f.admin
            .as_ref()
            .and_then(|a| a.token_sha256.as_ref())
            .map(|t| t.to_ascii_lowercase()),
        Wider::Any,
    );
    put(
        "identity.signing_key".into(),
        f.identity.as_ref().map(|i| i.signing_key.clone()),
        Wider::Any,
    );
    for u in &f.upstreams {
        for (field, value) in [
            ("ca_file", u.ca_file.clone()),
            ("client_cert", u.client_cert.clone()),
            ("client_key", u.client_key.clone()),
            (
                "response_headers_remove",
                (!u.response_headers_remove.is_empty())
                    .then(|| u.response_headers_remove.join(",")),
            ),
        ] {
            put(format!("upstreams.{}.{field}", u.name), value, Wider::Any);
        }
    }
    let misuse = f.governance.as_ref().and_then(|g| g.misuse.as_ref());
    put(
        "governance.misuse.threshold".into(),
        misuse.map(|m| m.threshold.to_string()),
        Wider::Higher,
    );
    put(
        "governance.misuse.window".into(),
        misuse.map(|m| secs(&m.window)),
        Wider::Lower,
    );
    put(
        "governance.misuse.suspend_for".into(),
        misuse.map(|m| secs(&m.suspend_for)),
        Wider::Lower,
    );
    put(
        "governance.misuse.codes".into(),
        misuse.map(|m| {
            m.codes
                .as_ref()
                .map_or_else(|| "default".into(), |c| c.join(","))
        }),
        Wider::Any,
    );
    out
}

/// A date as RFC 3339 (UTC, seconds), or the text as written when it is not one.
fn date(text: &str) -> String {
    super::validate::parse_date(text)
        .map(|t| humantime::format_rfc3339_seconds(t).to_string())
        .unwrap_or_else(|| text.to_owned())
}

/// Where each file the model hashes lives (resolved paths), by what it is: the routes' request
/// schemas, the issuers' key sets, the identity signing key.
pub(super) struct FilePaths {
    schemas: Vec<(String, String)>,
    jwks: Vec<(String, String)>,
    identity: Option<String>,
}

/// The resolved paths of the files the model hashes.
pub(super) fn file_paths(f: &file::File) -> FilePaths {
    FilePaths {
        schemas: f
            .routes
            .iter()
            .filter_map(|r| r.request_schema.clone().map(|p| (r.name.clone(), p)))
            .collect(),
        jwks: f
            .auth
            .jwt
            .iter()
            .filter_map(|j| j.jwks_file.clone().map(|p| (j.issuer.clone(), p)))
            .collect(),
        identity: f.identity.as_ref().map(|i| i.signing_key.clone()),
    }
}

/// Adds the SHA-256 of the files the model names — of exactly the bytes that were compiled
/// (`digests`, by path) — so a schema or key set edited in place is a change too.
pub(super) fn add_file_hashes(
    model: &mut Model,
    paths: &FilePaths,
    digests: &BTreeMap<String, String>,
) {
    for (route, path) in &paths.schemas {
        if let Some(m) = model.routes.get_mut(route) {
            m.request_schema_sha256 = digests.get(path).cloned();
        }
    }
    for (issuer, path) in &paths.jwks {
        if let Some(m) = model.issuers.get_mut(issuer) {
            m.jwks_sha256 = digests.get(path).cloned();
        }
    }
    if let Some(path) = &paths.identity {
        model.settings.insert(
            "identity.signing_key.sha256".into(),
            Setting {
                value: digests.get(path).cloned(),
                wider: Wider::Any,
            },
        );
    }
}
