//! `forbidden`, `[server]`, `[admin]` and `[limits]`: the listeners and what they accept.

use super::*;

/// `forbidden`: the built-in prefixes (`/internal`, `/db`), and the file's, which add to them.
pub(super) fn compile_forbidden(p: &mut Problems, forbidden: Option<Vec<String>>) -> Vec<String> {
    let list = forbidden.unwrap_or_default();
    let mut out: Vec<String> = defaults::FORBIDDEN.map(str::to_owned).to_vec();
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
            Ok(n) => {
                let n = fold_case(n.as_str());
                if !out.contains(&n) {
                    out.push(n);
                }
            }
            Err(e) => p.bad(&place, raw, format!("not a path prefix: {e}")),
        }
    }
    out
}

pub(super) fn compile_server(p: &mut Problems, s: file::Server) -> Option<ServerSettings> {
    let file::Server {
        listen,
        drain_timeout,
        shutdown_delay,
        require_versioned_routes,
        justification,
        tls,
    } = s;
    // Read by the route checks, before this; turning it off needs a reason.
    if !require_versioned_routes && justification.as_deref().is_none_or(|j| j.trim().is_empty()) {
        p.bad(
            "server.require_versioned_routes",
            "false",
            "integrations use versioned endpoints: add justification = \"why routes here are not versioned\" to [server], or remove this line",
        );
    }
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
            if let Some(ca) = &client_ca {
                p.hash_file(ca);
            }
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

pub(super) fn compile_admin(p: &mut Problems, a: file::Admin) -> Option<AdminSettings> {
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

pub(super) fn compile_limits(p: &mut Problems, l: file::Limits) -> Option<Limits> {
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

/// `forbidden_segments`: path segment names refused wherever they appear (compared by
/// meaning): the built-in `internal` and `db`, and the file's, which add to them.
pub(super) fn compile_forbidden_segments(
    p: &mut Problems,
    segments: Option<Vec<String>>,
) -> Vec<String> {
    let list = segments.unwrap_or_default();
    let mut out: Vec<String> = defaults::FORBIDDEN_SEGMENTS.map(str::to_owned).to_vec();
    for (i, seg) in list.into_iter().enumerate() {
        let ok = !seg.is_empty()
            && seg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
        if ok {
            let seg = seg.to_ascii_lowercase();
            if !out.contains(&seg) {
                out.push(seg);
            }
        } else {
            p.bad(
                format!("forbidden_segments[{i}]"),
                &seg,
                "a segment name: letters, digits, '-', '.', '_' or '~', no '/'",
            );
        }
    }
    out
}
