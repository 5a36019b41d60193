//! The files the view hashes (request schemas, key sets, signing keys): where they are, and
//! the SHA-256 of exactly the bytes that were compiled.

use std::collections::BTreeMap;

use crate::config::file;
use crate::governance::model::{Model, Setting, Wider};

/// Where each file the model hashes lives (resolved paths), by what it is: the routes' request
/// schemas, the issuers' key sets, the identity and audit signing keys.
pub(crate) struct FilePaths {
    schemas: Vec<(String, String)>,
    jwks: Vec<(String, String)>,
    identity: Option<String>,
    audit_key: Option<String>,
    client_ca: Option<String>,
    /// Each upstream's CA bundle and client certificate, by name.
    upstream_files: Vec<(String, &'static str, String)>,
}

/// The resolved paths of the files the model hashes.
pub(crate) fn file_paths(f: &file::File) -> FilePaths {
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
        audit_key: f.audit.as_ref().and_then(|a| a.signing_key.clone()),
        client_ca: f.server.tls.as_ref().and_then(|t| t.client_ca.clone()),
        upstream_files: f
            .upstreams
            .iter()
            .flat_map(|u| {
                [("ca_file", &u.ca_file), ("client_cert", &u.client_cert)]
                    .into_iter()
                    .filter_map(|(field, path)| path.clone().map(|p| (u.name.clone(), field, p)))
            })
            .collect(),
    }
}

/// Adds the SHA-256 of the files the model names — of exactly the bytes that were compiled
/// (`digests`, by path) — so a schema or key set edited in place is a change too.
pub(crate) fn add_file_hashes(
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
    let upstream_files = paths
        .upstream_files
        .iter()
        .map(|(name, field, path)| (format!("upstreams.{name}.{field}.sha256"), Some(path)));
    let named = [
        ("identity.signing_key.sha256", paths.identity.as_ref()),
        ("audit.signing_key.sha256", paths.audit_key.as_ref()),
        ("server.tls.client_ca.sha256", paths.client_ca.as_ref()),
    ]
    .map(|(s, p)| (s.to_owned(), p));
    // A file edited in place is another key, CA or certificate: any change counts.
    for (setting, path) in named.into_iter().chain(upstream_files) {
        if let Some(path) = path {
            model.settings.insert(
                setting,
                Setting {
                    value: digests.get(path).cloned(),
                    wider: Wider::Any,
                },
            );
        }
    }
}
