//! Turns `file::*` into runtime types, collecting every problem with its place; one module
//! per concern of the file.
//!
//! File structs are destructured without `..`, so a new field does not compile until
//! someone decides what it means.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::Method;

use super::error::{Problem, ProblemKind};
use super::{defaults, file};
use crate::auth::{Issuers, KeyEntry, KeyStore, Partner};
use crate::normalize::{fold_case, normalize_path};
use crate::policy::{PermissionKind, Stage, Tier};
use crate::routes::{Idempotency, Route, RouteTable};
use crate::snapshot::{
    AdminSettings, AuditSettings, Durability, Limits, RateSettings, ServerSettings, Snapshot,
};
use crate::upstream::{Upstream, UpstreamOptions};

mod audit;
mod contract;
mod governance;
mod identity;
mod jwt;
mod lifecycle;
mod listeners;
mod partners;
mod registry;
mod routes;
mod state;

use self::audit::compile_audit;
use identity::compile_identity;
use jwt::compile_issuers;
use listeners::{
    compile_admin, compile_forbidden, compile_forbidden_segments, compile_limits, compile_server,
};
use partners::compile_partners;
use registry::{compile_permissions, compile_tiers, compile_upstreams};
use routes::compile_routes;
use state::compile_state;

/// What routes are checked against.
pub(super) struct Known<'a> {
    /// `forbidden` and `forbidden_segments`, compared by meaning.
    forbidden: &'a crate::normalize::Forbidden,
    /// `server.require_versioned_routes`.
    versioned: bool,
    permissions: &'a BTreeMap<Arc<str>, PermissionKind>,
    upstreams: &'a [Arc<Upstream>],
    /// Every declared upstream name, valid or not (an invalid one is reported once).
    declared_upstreams: &'a HashSet<String>,
    /// The data classes response contracts filter.
    classes: &'a Arc<crate::contract::DataClasses>,
    /// `limits.max_request_body_bytes`: no route takes more.
    max_body: u64,
}

/// The problems found so far, and the SHA-256 of every referenced file read (by path), so the
/// governance view hashes exactly the bytes that were compiled.
#[derive(Default)]
pub(super) struct Problems(Vec<Problem>, BTreeMap<String, String>);

/// Compiles a parsed file into a snapshot, or returns every problem found.
pub(super) fn compile(
    f: file::File,
    config_sha256: String,
    demo_keys_allowed: bool,
) -> Result<Snapshot, Vec<Problem>> {
    let material = material_sha256(&config_sha256, &f);
    let file::File {
        forbidden,
        forbidden_segments,
        server,
        admin,
        limits,
        audit,
        tiers,
        permissions,
        upstreams,
        routes,
        data_classes,
        partners,
        auth,
        identity,
        state,
        governance,
    } = f;
    let mut p = Problems::default();
    let forbidden = compile_forbidden(&mut p, forbidden);
    let forbidden_segments = compile_forbidden_segments(&mut p, forbidden_segments);
    let versioned = server.require_versioned_routes;
    let server = compile_server(&mut p, server);
    let admin = admin.and_then(|a| compile_admin(&mut p, a));
    let limits = compile_limits(&mut p, limits);
    let audit = compile_audit(&mut p, audit);
    let tiers = compile_tiers(&mut p, tiers);
    let permissions = compile_permissions(&mut p, permissions);
    let connect_timeout = limits
        .as_ref()
        .map_or(Duration::from_secs(2), |l| l.upstream_connect_timeout); // only when [limits] is invalid
    let (upstreams, declared) = compile_upstreams(&mut p, upstreams, connect_timeout);
    let classes = contract::compile_data_classes(&mut p, data_classes, &permissions);
    let forbidden_rules = crate::normalize::Forbidden::new(&forbidden, &forbidden_segments);
    let known = Known {
        forbidden: &forbidden_rules,
        versioned,
        permissions: &permissions,
        upstreams: &upstreams,
        declared_upstreams: &declared,
        classes: &classes,
        max_body: limits
            .as_ref()
            .map_or(defaults::MAX_REQUEST_BODY_BYTES, |l| {
                l.max_request_body_bytes
            }),
    };
    let routes = compile_routes(&mut p, routes, &known);
    let client_auth = server.as_ref().is_some_and(|s| s.client_auth);
    let issuers = compile_issuers(&mut p, auth);
    let identity = identity.and_then(|i| compile_identity(&mut p, i));
    let state = compile_state(&mut p, state);
    let governance = governance::compile_governance(&mut p, governance);
    let partners::Compiled {
        partners,
        keys,
        records,
    } = compile_partners(
        &mut p,
        partners,
        &permissions,
        client_auth,
        &issuers,
        &tiers,
        partners::PartnerRules {
            require_grant_metadata: governance.require_grant_metadata,
            demo_keys_allowed,
        },
    );
    let partner_index = partners.iter().map(|p| (p.id.clone(), p.clone())).collect();

    let (Some(server), Some(limits)) = (server, limits) else {
        return Err(p.0);
    };
    if !p.0.is_empty() {
        return Err(p.0);
    }
    Ok(Snapshot {
        forbidden,
        forbidden_segments,
        forbidden_rules,
        server,
        admin,
        limits,
        tiers,
        audit,
        permissions,
        upstreams,
        routes,
        partners,
        keys,
        issuers,
        partner_index,
        identity,
        state,
        config_sha256,
        material_sha256: material,
        data_classes: classes,
        governance,
        partner_records: records,
        file_digests: std::mem::take(&mut p.1),
        model: Arc::default(),
        source: Arc::from(""),
    })
}
/// `rate_per_second` and `burst` of a tier or a partner at `place`.
pub(super) fn check_rate(
    p: &mut Problems,
    place: &str,
    rate_per_second: Option<f64>,
    burst: Option<u32>,
) {
    if rate_per_second.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        p.bad(
            format!("{place}.rate_per_second"),
            &format!("{rate_per_second:?}"),
            "must be a positive number",
        );
    }
    if burst == Some(0) {
        p.bad(format!("{place}.burst"), "0", "must be at least 1");
    }
}

/// SHA-256 over the configuration and every file it references (certificates, keys, CAs), so
/// a reload notices a rotated certificate even when the configuration text is unchanged.
fn material_sha256(config_sha256: &str, f: &file::File) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(config_sha256.as_bytes());
    let mut paths: Vec<&str> = Vec::new();
    if let Some(t) = &f.server.tls {
        paths.extend([t.cert.as_str(), t.key.as_str()]);
        paths.extend(t.client_ca.as_deref());
    }
    for j in &f.auth.jwt {
        paths.extend(j.jwks_file.as_deref());
    }
    if let Some(i) = &f.identity {
        paths.push(i.signing_key.as_str());
    }
    for r in &f.routes {
        paths.extend(r.request_schema.as_deref());
    }
    for u in &f.upstreams {
        paths.extend(u.ca_file.as_deref());
        paths.extend(u.client_cert.as_deref());
        paths.extend(u.client_key.as_deref());
    }
    for p in paths {
        h.update(p.as_bytes());
        h.update(crate::files::read(Path::new(p)).unwrap_or_default());
    }
    hex::encode(h.finalize())
}

// === impl Problems ===

impl Problems {
    /// Reads a file another part compiles (a CA bundle, a signing key) to note its digest for
    /// the governance view; a file that cannot be read is that part's problem to report.
    fn hash_file(&mut self, path: &str) {
        if let Ok(bytes) = crate::files::read_named(Path::new(path)) {
            self.read(path, &bytes);
        }
    }

    /// Notes the digest of a referenced file's bytes, as read for compiling.
    fn read(&mut self, path: &str, bytes: &[u8]) {
        self.1
            .insert(path.to_owned(), hex::encode(crate::digest::digest(bytes)));
    }

    fn push(&mut self, place: impl Into<String>, kind: ProblemKind) {
        self.0.push(Problem {
            place: place.into(),
            kind,
        });
    }

    fn bad(&mut self, place: impl Into<String>, value: &str, why: impl Into<String>) {
        self.push(
            place,
            ProblemKind::BadValue {
                value: value.to_owned(),
                why: why.into(),
            },
        );
    }

    fn duration(&mut self, place: &str, value: &str) -> Option<Duration> {
        match humantime::parse_duration(value) {
            Ok(d) if d.is_zero() => {
                self.push(place, bad_duration(value, "it must be greater than zero"));
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                self.push(place, bad_duration(value, &e.to_string()));
                None
            }
        }
    }

    /// A duration that may be zero (leeway).
    fn duration_or_zero(&mut self, place: &str, value: &str) -> Option<Duration> {
        match humantime::parse_duration(value) {
            Ok(d) => Some(d),
            Err(e) => {
                self.push(place, bad_duration(value, &e.to_string()));
                None
            }
        }
    }

    fn timestamp(&mut self, place: &str, value: &str) -> Option<SystemTime> {
        match humantime::parse_rfc3339(value) {
            Ok(t) => Some(t),
            Err(_) => {
                self.push(place, ProblemKind::BadTimestamp(value.to_owned()));
                None
            }
        }
    }

    /// A date: `2027-05-01` (midnight UTC) or an RFC 3339 timestamp.
    fn date(&mut self, place: &str, value: &file::DateField) -> Option<SystemTime> {
        let text = value.text();
        let parsed = parse_date(&text);
        if parsed.is_none() {
            self.push(place, ProblemKind::BadTimestamp(text));
        }
        parsed
    }

    fn socket_addr(&mut self, place: &str, value: &str) -> Option<SocketAddr> {
        match value.parse() {
            Ok(a) => Some(a),
            Err(_) => {
                self.bad(
                    place,
                    value,
                    "not a socket address; write e.g. \"0.0.0.0:8080\"",
                );
                None
            }
        }
    }

    fn sha256(&mut self, place: impl std::fmt::Display, value: &str) -> Option<[u8; 32]> {
        let mut out = [0u8; 32];
        match hex::decode_to_slice(value, &mut out) {
            Ok(()) => Some(out),
            Err(_) => {
                self.push(place.to_string(), ProblemKind::BadSha256(value.to_owned()));
                None
            }
        }
    }

    /// Records `value` at `place`; reports where it was first seen if it is a repeat. A place
    /// is written out only for a problem (ten thousand partners need not format theirs).
    fn unique<P: std::fmt::Display, S: std::hash::BuildHasher>(
        &mut self,
        seen: &mut HashMap<String, P, S>,
        what: &'static str,
        value: &str,
        place: P,
    ) -> bool {
        if let Some(first) = seen.get(value) {
            let first = first.to_string();
            self.push(
                place.to_string(),
                ProblemKind::Duplicate {
                    what,
                    value: value.to_owned(),
                    first,
                },
            );
            false
        } else {
            seen.insert(value.to_owned(), place);
            true
        }
    }
}

/// A date: `2027-05-01` (midnight UTC), an RFC 3339 timestamp, or a TOML local date-time
/// (read as UTC).
pub(super) fn parse_date(text: &str) -> Option<SystemTime> {
    let full = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else if text.contains('T')
        && !text.ends_with('Z')
        && text.get(11..).is_some_and(|t| !t.contains(['+', '-']))
    {
        format!("{text}Z")
    } else {
        text.to_owned()
    };
    humantime::parse_rfc3339(&full).ok()
}

pub(super) fn bad_duration(value: &str, why: &str) -> ProblemKind {
    ProblemKind::BadDuration {
        value: value.to_owned(),
        why: why.to_owned(),
    }
}
