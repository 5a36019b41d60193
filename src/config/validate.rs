//! Turns `file::*` into runtime types, collecting every problem with its place.
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
use super::file;
use crate::auth::{Issuers, KeyEntry, KeyStore, Partner};
use crate::normalize::{fold_case, normalize_path};
use crate::policy::{PermissionKind, Stage, Tier};
use crate::routes::{Idempotency, Route, RouteTable};
use crate::snapshot::{
    AdminSettings, AuditSettings, Durability, Limits, RateSettings, ServerSettings, Snapshot,
};
use crate::upstream::{Upstream, UpstreamOptions};

/// What routes are checked against.
struct Known<'a> {
    forbidden: &'a [String],
    permissions: &'a BTreeMap<Arc<str>, PermissionKind>,
    upstreams: &'a [Arc<Upstream>],
    /// Every declared upstream name, valid or not (an invalid one is reported once).
    declared_upstreams: &'a HashSet<String>,
}

/// The problems found so far.
#[derive(Default)]
struct Problems(Vec<Problem>);

/// Compiles a parsed file into a snapshot, or returns every problem found.
pub(super) fn compile(f: file::File, config_sha256: String) -> Result<Snapshot, Vec<Problem>> {
    let material = material_sha256(&config_sha256, &f);
    let file::File {
        forbidden,
        server,
        admin,
        limits,
        audit,
        tiers,
        permissions,
        upstreams,
        routes,
        partners,
        auth,
        identity,
        state,
    } = f;
    let mut p = Problems::default();
    let forbidden = compile_forbidden(&mut p, forbidden);
    let server = compile_server(&mut p, server);
    let admin = admin.and_then(|a| compile_admin(&mut p, a));
    let limits = compile_limits(&mut p, limits);
    let audit = audit.and_then(|a| compile_audit(&mut p, a));
    let tiers = compile_tiers(&mut p, tiers);
    let permissions = compile_permissions(&mut p, permissions);
    let connect_timeout = limits
        .as_ref()
        .map_or(Duration::from_secs(2), |l| l.upstream_connect_timeout);
    let (upstreams, declared) = compile_upstreams(&mut p, upstreams, connect_timeout);
    let known = Known {
        forbidden: &forbidden,
        permissions: &permissions,
        upstreams: &upstreams,
        declared_upstreams: &declared,
    };
    let routes = compile_routes(&mut p, routes, &known);
    let client_auth = server.as_ref().is_some_and(|s| s.client_auth);
    let issuers = compile_issuers(&mut p, auth);
    let identity = identity.and_then(|i| compile_identity(&mut p, i));
    let state = compile_state(&mut p, state);
    let (partners, keys) = compile_partners(
        &mut p,
        partners,
        &permissions,
        client_auth,
        &issuers,
        &tiers,
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
    })
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
    for u in &f.upstreams {
        paths.extend(u.ca_file.as_deref());
        paths.extend(u.client_cert.as_deref());
        paths.extend(u.client_key.as_deref());
    }
    for p in paths {
        h.update(p.as_bytes());
        h.update(std::fs::read(p).unwrap_or_default());
    }
    hex::encode(h.finalize())
}

// === impl Problems ===

impl Problems {
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

    fn sha256(&mut self, place: &str, value: &str) -> Option<[u8; 32]> {
        let mut out = [0u8; 32];
        match hex::decode_to_slice(value, &mut out) {
            Ok(()) => Some(out),
            Err(_) => {
                self.push(place, ProblemKind::BadSha256(value.to_owned()));
                None
            }
        }
    }

    /// Records `value` at `place`; reports where it was first seen if it is a repeat.
    fn unique(
        &mut self,
        seen: &mut HashMap<String, String>,
        what: &'static str,
        value: &str,
        place: &str,
    ) -> bool {
        if let Some(first) = seen.get(value) {
            self.push(
                place,
                ProblemKind::Duplicate {
                    what,
                    value: value.to_owned(),
                    first: first.clone(),
                },
            );
            false
        } else {
            seen.insert(value.to_owned(), place.to_owned());
            true
        }
    }
}

fn bad_duration(value: &str, why: &str) -> ProblemKind {
    ProblemKind::BadDuration {
        value: value.to_owned(),
        why: why.to_owned(),
    }
}

fn compile_forbidden(p: &mut Problems, forbidden: Option<Vec<String>>) -> Vec<String> {
    let list = forbidden.unwrap_or_else(|| vec!["/internal".to_owned(), "/db".to_owned()]);
    let mut out = Vec::new();
    for (i, raw) in list.iter().enumerate() {
        let place = format!("forbidden[{i}]");
        match normalize_path(raw) {
            Ok(n) if n.as_str() == "/" => {
                p.bad(&place, raw, "forbidding \"/\" would refuse every request");
            }
            Ok(n) if n.as_str() != raw => p.bad(
                &place,
                raw,
                format!("not in canonical form; write {:?}", n.as_str()),
            ),
            Ok(n) => out.push(fold_case(n.as_str())),
            Err(e) => p.bad(&place, raw, format!("not a path prefix: {e}")),
        }
    }
    out
}

fn compile_server(p: &mut Problems, s: file::Server) -> Option<ServerSettings> {
    let file::Server {
        listen,
        drain_timeout,
        shutdown_delay,
        tls,
    } = s;
    let listen = p.socket_addr("server.listen", &listen);
    let drain_timeout = p.duration("server.drain_timeout", &drain_timeout);
    let shutdown_delay = p.duration_or_zero("server.shutdown_delay", &shutdown_delay);
    let client_auth = tls.as_ref().is_some_and(|t| t.client_ca.is_some());
    let tls = match tls {
        Some(file::Tls {
            cert,
            key,
            client_ca,
        }) => {
            let built = crate::tls::server_config(
                Path::new(&cert),
                Path::new(&key),
                client_ca.as_deref().map(Path::new),
            );
            match built {
                Ok(c) => Some(Some(c)),
                Err(why) => {
                    p.bad(
                        "server.tls",
                        &cert,
                        format!("{why}; give PEM files for cert, key and client_ca"),
                    );
                    None
                }
            }
        }
        None => Some(None),
    };
    Some(ServerSettings {
        listen: listen?,
        drain_timeout: drain_timeout?,
        shutdown_delay: shutdown_delay?,
        tls: tls?,
        client_auth,
    })
}

fn compile_admin(p: &mut Problems, a: file::Admin) -> Option<AdminSettings> {
    let file::Admin {
        listen,
        token_sha256,
        max_connections,
    } = a;
    if max_connections == 0 {
        p.bad("admin.max_connections", "0", "must be at least 1");
    }
    let listen = p.socket_addr("admin.listen", &listen);
    let token = token_sha256.map(|t| p.sha256("admin.token_sha256", &t));
    Some(AdminSettings {
        listen: listen?,
        token_sha256: match token {
            Some(t) => Some(t?),
            None => None,
        },
        max_connections,
    })
}

fn compile_limits(p: &mut Problems, l: file::Limits) -> Option<Limits> {
    let file::Limits {
        max_request_header_bytes,
        max_request_body_bytes,
        client_header_timeout,
        upstream_connect_timeout,
        upstream_timeout,
        client_body_timeout,
        max_connections,
        h2_max_concurrent_streams,
        h2_max_frame_size,
        h2_max_pending_reset_streams,
        h2_keepalive_interval,
        h2_keepalive_timeout,
        unauthenticated_rate_per_second,
        unauthenticated_burst,
    } = l;
    if !(unauthenticated_rate_per_second.is_finite() && unauthenticated_rate_per_second > 0.0) {
        p.bad(
            "limits.unauthenticated_rate_per_second",
            &unauthenticated_rate_per_second.to_string(),
            "must be a number above 0",
        );
    }
    if unauthenticated_burst == 0 {
        p.bad("limits.unauthenticated_burst", "0", "must be at least 1");
    }
    if h2_max_concurrent_streams == 0 {
        p.bad(
            "limits.h2_max_concurrent_streams",
            "0",
            "must be at least 1",
        );
    }
    if !(16_384..=16_777_215).contains(&h2_max_frame_size) {
        p.bad(
            "limits.h2_max_frame_size",
            &h2_max_frame_size.to_string(),
            "must be between 16384 and 16777215 (RFC 9113)",
        );
    }
    if h2_max_pending_reset_streams == 0 {
        p.bad(
            "limits.h2_max_pending_reset_streams",
            "0",
            "must be at least 1",
        );
    }
    let ping = p.duration("limits.h2_keepalive_interval", &h2_keepalive_interval);
    let body_timeout = p.duration("limits.client_body_timeout", &client_body_timeout);
    if max_connections == 0 {
        p.bad("limits.max_connections", "0", "must be at least 1");
    }
    let ping_timeout = p.duration("limits.h2_keepalive_timeout", &h2_keepalive_timeout);
    if !(1024..=1024 * 1024).contains(&max_request_header_bytes) {
        p.bad(
            "limits.max_request_header_bytes",
            &max_request_header_bytes.to_string(),
            "must be between 1024 and 1048576",
        );
    }
    let header = p.duration("limits.client_header_timeout", &client_header_timeout);
    let connect = p.duration("limits.upstream_connect_timeout", &upstream_connect_timeout);
    let upstream = p.duration("limits.upstream_timeout", &upstream_timeout);
    Some(Limits {
        max_request_header_bytes: usize::try_from(max_request_header_bytes).ok()?,
        max_request_body_bytes,
        client_header_timeout: header?,
        upstream_connect_timeout: connect?,
        upstream_timeout: upstream?,
        client_body_timeout: body_timeout?,
        max_connections,
        h2_max_concurrent_streams,
        h2_max_frame_size,
        h2_max_pending_reset_streams,
        h2_keepalive_interval: ping?,
        h2_keepalive_timeout: ping_timeout?,
        unauthenticated: crate::state::Rate {
            per_second: unauthenticated_rate_per_second,
            burst: unauthenticated_burst,
        },
    })
}

fn compile_audit(p: &mut Problems, a: file::Audit) -> Option<AuditSettings> {
    let file::Audit {
        dir,
        durability,
        flush_interval,
        rotate_bytes,
        retention_days,
        signing_key,
        checkpoint_every,
        checkpoint_interval,
        witness_dir,
    } = a;
    if witness_dir.is_some() && signing_key.is_none() {
        p.bad(
            "audit.witness_dir",
            witness_dir.as_deref().unwrap_or(""),
            "needs audit.signing_key: only signed checkpoints are witnessed",
        );
    }
    if dir.is_empty() {
        p.bad("audit.dir", &dir, "must name a folder");
    }
    let durability = match durability.as_deref().unwrap_or("strict") {
        "strict" => Some(Durability::Strict),
        "buffered" => Some(Durability::Buffered),
        other => {
            p.push(
                "audit.durability",
                ProblemKind::NotOneOf {
                    value: other.to_owned(),
                    expected: "\"strict\", \"buffered\"",
                },
            );
            None
        }
    };
    let flush = p.duration(
        "audit.flush_interval",
        flush_interval.as_deref().unwrap_or("100ms"),
    );
    let checkpoint = p.duration(
        "audit.checkpoint_interval",
        checkpoint_interval.as_deref().unwrap_or("10s"),
    );
    let rotate_bytes = rotate_bytes.unwrap_or(100 * 1024 * 1024);
    if rotate_bytes < 4096 {
        p.bad(
            "audit.rotate_bytes",
            &rotate_bytes.to_string(),
            "must be at least 4096",
        );
    }
    let checkpoint_every = checkpoint_every.unwrap_or(1000);
    if checkpoint_every == 0 {
        p.bad("audit.checkpoint_every", "0", "must be at least 1");
    }
    // Loaded here as `serve` will load it, so `check` fails on what `serve` would refuse.
    if let Some(key) = &signing_key
        && let Err(e) = crate::audit::check_signing_key(std::path::Path::new(key))
    {
        p.bad("audit.signing_key", key, e.to_string());
    }
    // A relative folder is resolved once, against the working directory, and shown by `check`.
    let dir = std::path::absolute(&dir).unwrap_or_else(|_| dir.into());
    Some(AuditSettings {
        dir,
        durability: durability?,
        flush_interval: flush?,
        rotate_bytes,
        retention_days: retention_days.unwrap_or(400),
        signing_key: signing_key.map(Into::into),
        checkpoint_every,
        checkpoint_interval: checkpoint?,
        witness_dir: witness_dir.map(|w| std::path::absolute(&w).unwrap_or_else(|_| w.into())),
    })
}

fn compile_tiers(
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
fn check_permission_name(p: &mut Problems, place: &str, name: &str) -> bool {
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

fn compile_permissions(
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

fn compile_upstreams(
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
        } = u;
        declared.insert(name.clone());
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
        let place = format!("upstreams[{i}]");
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
fn response_headers(p: &mut Problems, i: usize, names: Vec<String>) -> Vec<http::HeaderName> {
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

fn compile_routes(p: &mut Problems, routes: Vec<file::Route>, known: &Known<'_>) -> RouteTable {
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
        } = r;
        let mut ok = p.unique(&mut names, "route name", &name, &format!("{place}.name"));
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
        if !name.is_empty() && !super::is_valid_id(&name) {
            p.bad(
                format!("{place}.name"),
                &name,
                "route names use only letters, digits, '_', '.' and '-'",
            );
            ok = false;
        }
        ok &= check_route_path(p, &format!("{place}.path"), &path, known.forbidden);
        let kind = check_permission_name(p, &format!("{place}.permission"), &permission)
            .then(|| known.permissions.get(permission.as_str()).copied())
            .flatten();
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
        let idem = match idempotency.as_deref().unwrap_or("none") {
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
        let (Some(method), Some(kind), Some(upstream_index), Some(idempotency), true) =
            (method_ok, kind, up, idem, ok)
        else {
            continue;
        };
        let route = Route {
            name: name.into(),
            method,
            template: path,
            permission: permission.into(),
            kind,
            upstream: upstream.into(),
            upstream_index,
            idempotency,
        };
        if let Err(why) = table.insert(route) {
            p.bad(format!("{place}.path"), "", why);
        }
    }
    table
}

/// A route path must be canonical, use whole-segment `{params}` and avoid forbidden prefixes.
fn check_route_path(p: &mut Problems, place: &str, path: &str, forbidden: &[String]) -> bool {
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
    let folded = fold_case(path);
    if let Some(prefix) = forbidden.iter().find(|f| folded.starts_with(f.as_str())) {
        p.push(
            place,
            ProblemKind::UnderForbiddenPrefix {
                path: path.to_owned(),
                prefix: prefix.clone(),
            },
        );
        return false;
    }
    true
}

fn compile_partners(
    p: &mut Problems,
    partners: Vec<file::Partner>,
    permissions: &BTreeMap<Arc<str>, PermissionKind>,
    client_auth: bool,
    issuers: &Issuers,
    tiers: &BTreeMap<Tier, RateSettings>,
) -> (Vec<Arc<Partner>>, KeyStore) {
    let mut ids = HashMap::new();
    let mut key_ids = HashMap::new();
    let mut key_hashes = HashMap::new();
    let mut pending = Vec::new();
    let mut out = Vec::new();
    let loaded_at = SystemTime::now();
    for (i, partner) in partners.into_iter().enumerate() {
        let place = format!("partners[{i}]");
        let file::Partner {
            id,
            tier,
            stage,
            sunset,
            deprecated_since,
            permissions: held,
            keys,
            client_cert_sha256,
            require_mtls,
            jwt_issuers,
            rate_per_second,
            burst,
        } = partner;
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
        let mut issuers_ok = true;
        for (j, iss) in jwt_issuers.iter().enumerate() {
            if !issuers.contains(iss) {
                p.bad(
                    format!("{place}.jwt_issuers[{j}]"),
                    iss,
                    "not an issuer of [[auth.jwt]]; configure it there first",
                );
                issuers_ok = false;
            }
        }
        let mut mtls_ok = true;
        let client_certs: Vec<_> = client_cert_sha256
            .iter()
            .enumerate()
            .filter_map(|(j, c)| p.sha256(&format!("{place}.client_cert_sha256[{j}]"), c))
            .collect();
        if require_mtls && !client_auth {
            p.bad(
                format!("{place}.require_mtls"),
                "true",
                "needs client certificates: set server.tls.client_ca",
            );
            mtls_ok = false;
        }
        if require_mtls && client_cert_sha256.is_empty() {
            p.bad(
                format!("{place}.require_mtls"),
                "true",
                "list the bound certificates in client_cert_sha256",
            );
            mtls_ok = false;
        }
        let mut ok =
            p.unique(&mut ids, "partner id", &id, &format!("{place}.id")) && mtls_ok && issuers_ok;
        if !super::is_valid_id(&id) {
            p.bad(
                format!("{place}.id"),
                &id,
                "partner ids are non-empty and use only letters, digits, '_', '.' and '-'",
            );
            ok = false;
        }
        let raw_tier = tier;
        let tier = Tier::new(raw_tier);
        if tier.is_none() {
            p.push(
                format!("{place}.tier"),
                ProblemKind::NotOneOf {
                    value: raw_tier.to_string(),
                    expected: "1, 2, 3",
                },
            );
        }
        let stage = compile_stage(p, &place, &stage, sunset, deprecated_since, loaded_at);
        let held = compile_held(p, &place, &held, permissions, tier);
        // Keys are checked even when the partner is not valid, so every problem is listed.
        let partner = match (tier, stage, held, ok) {
            (Some(tier), Some(stage), Some(held), true) => Some(Arc::new(Partner {
                id: id.into(),
                tier,
                stage,
                permissions: held,
                client_certs,
                require_mtls,
                jwt_issuers: jwt_issuers.iter().map(|i| Arc::from(i.as_str())).collect(),
                rate: resolve_rate(tiers.get(&tier), rate_per_second, burst),
            })),
            _ => None,
        };
        for (k, key) in keys.into_iter().enumerate() {
            let kplace = format!("{place}.keys[{k}]");
            let file::Key {
                id,
                sha256,
                expires,
                revoked,
            } = key;
            let id_ok = p.unique(&mut key_ids, "key id", &id, &format!("{kplace}.id"));
            let digest = p.sha256(&format!("{kplace}.sha256"), &sha256);
            let hash_ok = p.unique(
                &mut key_hashes,
                "key sha256",
                &sha256.to_ascii_lowercase(),
                &format!("{kplace}.sha256"),
            );
            let expires = match expires {
                Some(e) => p.timestamp(&format!("{kplace}.expires"), &e).map(Some),
                None => Some(None),
            };
            if let (Some(partner), Some(digest), Some(expires), true, true) =
                (&partner, digest, expires, id_ok, hash_ok)
            {
                pending.push((
                    digest,
                    KeyEntry {
                        partner: partner.clone(),
                        key_id: id.into(),
                        expires,
                        revoked,
                    },
                ));
            }
        }
        out.extend(partner);
    }
    let mut store = KeyStore::default();
    for (digest, entry) in pending {
        // Duplicates were reported above by their hex spelling.
        let _ = store.insert(digest, entry);
    }
    (out, store)
}

fn compile_stage(
    p: &mut Problems,
    place: &str,
    stage: &str,
    sunset: Option<String>,
    since: Option<String>,
    loaded_at: SystemTime,
) -> Option<Stage> {
    let sunset = sunset.and_then(|s| p.timestamp(&format!("{place}.sunset"), &s));
    let since = since.and_then(|s| p.timestamp(&format!("{place}.deprecated_since"), &s));
    match stage {
        "active" => Some(Stage::Active),
        "maintenance" => Some(Stage::Maintenance),
        "end_of_support" => Some(Stage::EndOfSupport),
        "deprecation" => match sunset {
            Some(sunset) => Some(Stage::Deprecation {
                since: since.unwrap_or(loaded_at),
                sunset,
            }),
            None => {
                p.push(format!("{place}.sunset"), ProblemKind::MissingSunset);
                None
            }
        },
        other => {
            p.push(
                format!("{place}.stage"),
                ProblemKind::NotOneOf {
                    value: other.to_owned(),
                    expected: "\"active\", \"maintenance\", \"deprecation\", \"end_of_support\"",
                },
            );
            None
        }
    }
}

/// A partner's permissions: declared, exact, unique and within its tier's ceiling.
fn compile_held(
    p: &mut Problems,
    place: &str,
    held: &[String],
    registry: &BTreeMap<Arc<str>, PermissionKind>,
    tier: Option<Tier>,
) -> Option<HashSet<Arc<str>>> {
    let mut out = HashSet::new();
    let mut seen = HashMap::new();
    let before = p.0.len();
    for (j, perm) in held.iter().enumerate() {
        let pplace = format!("{place}.permissions[{j}]");
        if !check_permission_name(p, &pplace, perm) {
            continue;
        }
        if !p.unique(&mut seen, "permission", perm, &pplace) {
            continue;
        }
        let Some((name, kind)) = registry.get_key_value(perm.as_str()) else {
            p.push(pplace, ProblemKind::UnknownPermission(perm.clone()));
            continue;
        };
        if let Some(tier) = tier.filter(|t| !t.allows(*kind)) {
            p.push(
                pplace,
                ProblemKind::AboveTierCeiling {
                    permission: perm.clone(),
                    kind: kind.as_str().to_owned(),
                    tier: tier.get(),
                    ceiling: tier.ceiling().to_owned(),
                },
            );
            continue;
        }
        out.insert(name.clone());
    }
    (p.0.len() == before).then_some(out)
}

/// `[[auth.jwt]]`: pinned algorithms, explicit audiences and leeway, keys from a JWKS file (or a
/// secret for HS256 only).
fn compile_issuers(p: &mut Problems, auth: file::AuthSection) -> Issuers {
    use jsonwebtoken::Algorithm;
    let file::AuthSection { jwt } = auth;
    let mut out = Issuers::default();
    let mut seen = HashMap::new();
    for (i, j) in jwt.into_iter().enumerate() {
        let place = format!("auth.jwt[{i}]");
        let file::JwtIssuer {
            issuer,
            audiences,
            algorithms,
            jwks_file,
            secret,
            partner_claim,
            leeway,
        } = j;
        let mut ok = p.unique(&mut seen, "issuer", &issuer, &format!("{place}.issuer"));
        if issuer.is_empty() {
            p.bad(format!("{place}.issuer"), &issuer, "must not be empty");
            ok = false;
        }
        if audiences.is_empty() {
            p.bad(
                format!("{place}.audiences"),
                "[]",
                "list the audiences tokens must name",
            );
            ok = false;
        }
        let mut algs = Vec::new();
        for (k, a) in algorithms.iter().enumerate() {
            match a.as_str() {
                "RS256" => algs.push(Algorithm::RS256),
                "ES256" => algs.push(Algorithm::ES256),
                "EdDSA" => algs.push(Algorithm::EdDSA),
                "HS256" => algs.push(Algorithm::HS256),
                other => {
                    p.push(
                        format!("{place}.algorithms[{k}]"),
                        ProblemKind::NotOneOf {
                            value: other.to_owned(),
                            expected: "\"RS256\", \"ES256\", \"EdDSA\", \"HS256\"",
                        },
                    );
                    ok = false;
                }
            }
        }
        if algorithms.is_empty() {
            p.bad(
                format!("{place}.algorithms"),
                "[]",
                "pin at least one algorithm",
            );
            ok = false;
        }
        let hs = algs.contains(&Algorithm::HS256);
        if hs && algs.len() > 1 {
            p.bad(
                format!("{place}.algorithms"),
                &algorithms.join(", "),
                "HS256 cannot be mixed with public-key algorithms (key confusion)",
            );
            ok = false;
        }
        let leeway = p.duration_or_zero(&format!("{place}.leeway"), &leeway);
        let keys = match (hs, secret, jwks_file) {
            (true, Some(secret), None) if secret.len() >= 32 => {
                let mut m = HashMap::new();
                m.insert(
                    None,
                    jsonwebtoken::DecodingKey::from_secret(secret.as_bytes()),
                );
                Some(m)
            }
            (true, Some(_), None) => {
                p.bad(
                    format!("{place}.secret"),
                    "…",
                    "an HS256 secret needs at least 32 bytes",
                );
                None
            }
            (false, None, Some(path)) => load_jwks(p, &format!("{place}.jwks_file"), &path),
            (true, _, _) => {
                p.bad(
                    format!("{place}.secret"),
                    "",
                    "HS256 needs `secret` and no `jwks_file`",
                );
                None
            }
            (false, _, _) => {
                p.bad(
                    format!("{place}.jwks_file"),
                    "",
                    "public-key algorithms need `jwks_file` and no `secret`",
                );
                None
            }
        };
        let (Some(keys), Some(leeway), true) = (keys, leeway, ok) else {
            continue;
        };
        let mut validation = jsonwebtoken::Validation::new(algs[0]);
        validation.algorithms = algs.clone();
        validation.set_issuer(&[issuer.as_str()]);
        validation.set_audience(&audiences);
        validation.leeway = leeway.as_secs();
        validation.validate_nbf = true;
        validation.validate_exp = true;
        validation.required_spec_claims = ["exp", "iss", "aud"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        // Duplicates were reported above.
        let _ = out.insert(crate::auth::Issuer {
            issuer: issuer.into(),
            algorithms: algs,
            keys,
            partner_claim,
            validation,
        });
    }
    out
}

/// Keys of a JWKS file, by `kid`.
fn load_jwks(
    p: &mut Problems,
    place: &str,
    path: &str,
) -> Option<HashMap<Option<String>, jsonwebtoken::DecodingKey>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            p.bad(place, path, format!("cannot read it: {e}"));
            return None;
        }
    };
    let set: jsonwebtoken::jwk::JwkSet = match serde_json::from_str(&text) {
        Ok(s) => s,
        Err(e) => {
            p.bad(place, path, format!("not a JWKS document: {e}"));
            return None;
        }
    };
    let mut keys = HashMap::new();
    for (i, jwk) in set.keys.iter().enumerate() {
        match jsonwebtoken::DecodingKey::from_jwk(jwk) {
            Ok(k) => {
                keys.insert(jwk.common.key_id.clone(), k);
            }
            Err(e) => p.bad(place, path, format!("key {i} is not usable: {e}")),
        }
    }
    if keys.is_empty() {
        p.bad(place, path, "the JWKS holds no usable key");
        return None;
    }
    Some(keys)
}

/// `[identity]`: an Ed25519 or P-256 key and a TTL of at most 60 s.
fn compile_identity(
    p: &mut Problems,
    i: file::Identity,
) -> Option<Arc<crate::identity::IdentitySigner>> {
    let file::Identity {
        signing_key,
        ttl,
        issuer,
    } = i;
    let ttl = p.duration("identity.ttl", &ttl)?;
    if ttl > Duration::from_secs(60) {
        p.bad("identity.ttl", &format!("{ttl:?}"), "at most 60s");
        return None;
    }
    let pem = match std::fs::read(&signing_key) {
        Ok(b) => b,
        Err(e) => {
            p.bad(
                "identity.signing_key",
                &signing_key,
                format!("cannot read it: {e}"),
            );
            return None;
        }
    };
    match crate::identity::IdentitySigner::from_pem(&pem, issuer, ttl) {
        Ok(s) => Some(Arc::new(s)),
        Err(why) => {
            p.bad("identity.signing_key", &signing_key, why);
            None
        }
    }
}

/// A partner's rate: its own fields over its tier's; burst defaults to one second's worth.
fn resolve_rate(
    tier: Option<&RateSettings>,
    rate: Option<f64>,
    burst: Option<u32>,
) -> Option<crate::state::Rate> {
    let per_second = rate.or(tier.and_then(|t| t.rate_per_second))?;
    if !(per_second.is_finite() && per_second > 0.0) {
        return None;
    }
    let burst = burst
        .or(tier.and_then(|t| t.burst))
        .unwrap_or_else(|| per_second.ceil() as u32)
        .max(1);
    Some(crate::state::Rate { per_second, burst })
}

/// `[state]`: memory (default) or Redis.
fn compile_state(p: &mut Problems, state: Option<file::StateFile>) -> crate::state::StateSettings {
    let mut out = crate::state::StateSettings::default();
    let Some(file::StateFile {
        backend,
        redis_url,
        idempotency_ttl,
        idempotency_max_body_bytes,
        idempotency_max_per_partner,
        max_entries,
        timeout,
    }) = state
    else {
        return out;
    };
    match (backend.as_str(), redis_url) {
        ("memory", None) => {}
        ("redis", Some(url)) if url.starts_with("redis://") || url.starts_with("rediss://") => {
            out.redis_url = Some(url);
        }
        ("redis", url) => p.bad(
            "state.redis_url",
            url.as_deref().unwrap_or(""),
            "the redis backend needs redis_url = \"redis://host:port/db\"",
        ),
        ("memory", Some(url)) => p.bad("state.redis_url", &url, "only for backend = \"redis\""),
        (other, _) => p.push(
            "state.backend",
            ProblemKind::NotOneOf {
                value: other.to_owned(),
                expected: "\"memory\", \"redis\"",
            },
        ),
    }
    if let Some(ttl) = idempotency_ttl.and_then(|t| p.duration("state.idempotency_ttl", &t)) {
        out.idempotency_ttl = ttl;
    }
    if let Some(max) = idempotency_max_body_bytes {
        out.idempotency_max_body = max;
    }
    if let Some(max) = idempotency_max_per_partner {
        if max == 0 {
            p.bad(
                "state.idempotency_max_per_partner",
                "0",
                "must be at least 1",
            );
        }
        out.idempotency_max_per_partner = max;
    }
    if let Some(t) = timeout.and_then(|t| p.duration("state.timeout", &t)) {
        out.timeout = t;
    }
    if let Some(max) = max_entries {
        if max == 0 {
            p.bad("state.max_entries", "0", "must be at least 1");
        }
        out.max_entries = max;
    }
    out
}
