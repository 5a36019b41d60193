//! The files the view hashes (request schemas, key sets, signing keys): where they are, and
//! the SHA-256 of exactly the bytes that were compiled.

use std::collections::BTreeMap;

use crate::config::file;
use crate::governance::model::{Model, Setting, Wider};

/// Where each file the model hashes lives (resolved paths), by what it is: the routes' request
/// schemas, the issuers' key sets, the identity and audit signing keys.
#[derive(Debug, Default)]
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

/// Where in the model one file's hash goes.
enum Slot {
    /// `routes.<name>.request_schema_sha256`.
    Schema(String),
    /// `issuers.<iss>.jwks_sha256`.
    Jwks(String),
    /// A setting (`audit.signing_key.sha256`, ...).
    Setting(String),
}

impl FilePaths {
    /// Each file, with where its hash goes.
    fn slots(&self) -> impl Iterator<Item = (Slot, &String)> {
        let schemas = self
            .schemas
            .iter()
            .map(|(route, path)| (Slot::Schema(route.clone()), path));
        let jwks = self
            .jwks
            .iter()
            .map(|(issuer, path)| (Slot::Jwks(issuer.clone()), path));
        let named = [
            ("identity.signing_key.sha256", self.identity.as_ref()),
            ("audit.signing_key.sha256", self.audit_key.as_ref()),
            ("server.tls.client_ca.sha256", self.client_ca.as_ref()),
        ]
        .into_iter()
        .filter_map(|(s, p)| p.map(|p| (Slot::Setting(s.to_owned()), p)));
        let upstream_files = self.upstream_files.iter().map(|(name, field, path)| {
            (
                Slot::Setting(format!("upstreams.{name}.{field}.sha256")),
                path,
            )
        });
        schemas.chain(jwks).chain(named).chain(upstream_files)
    }

    /// Every file's path.
    pub(crate) fn paths(&self) -> impl Iterator<Item = &String> {
        self.slots().map(|(_, p)| p)
    }
}

impl Slot {
    fn get(&self, model: &Model) -> Option<String> {
        match self {
            Self::Schema(r) => model.routes.get(r)?.request_schema_sha256.clone(),
            Self::Jwks(i) => model.issuers.get(i)?.jwks_sha256.clone(),
            Self::Setting(s) => model.settings.get(s)?.value.clone(),
        }
    }

    fn set(&self, model: &mut Model, sha: Option<String>) {
        match self {
            Self::Schema(r) => {
                if let Some(m) = model.routes.get_mut(r) {
                    m.request_schema_sha256 = sha;
                }
            }
            Self::Jwks(i) => {
                if let Some(m) = model.issuers.get_mut(i) {
                    m.jwks_sha256 = sha;
                }
            }
            // A file edited in place is another key, CA or certificate: any change counts.
            Self::Setting(s) => {
                model.settings.insert(
                    s.clone(),
                    Setting {
                        value: sha,
                        wider: Wider::Any,
                    },
                );
            }
        }
    }

    fn name(&self) -> String {
        match self {
            Self::Schema(r) => format!("routes.{r}.request_schema"),
            Self::Jwks(i) => format!("auth.jwt.{i}.jwks_file"),
            Self::Setting(s) => s.trim_end_matches(".sha256").to_owned(),
        }
    }
}

/// Adds the SHA-256 of the files the model names — of exactly the bytes that were compiled
/// (`digests`, by path) — so a schema or key set edited in place is a change too.
pub(crate) fn add_file_hashes(
    model: &mut Model,
    paths: &FilePaths,
    digests: &BTreeMap<String, String>,
) {
    for (slot, path) in paths.slots() {
        slot.set(model, digests.get(path).cloned());
    }
}

/// For the files in `unread` (not readable here), takes the hashes `other` has, so what
/// cannot be compared is not shown as changed; returns what each such file is.
pub(crate) fn carry_unread(
    model: &mut Model,
    paths: &FilePaths,
    unread: &[String],
    other: &Model,
) -> Vec<String> {
    let mut names = Vec::new();
    for (slot, path) in paths.slots() {
        if unread.contains(path) {
            slot.set(model, slot.get(other));
            names.push(format!("{} ({path})", slot.name()));
        }
    }
    names
}
