//! The admin listener (loopback by default), a small hyper service with a path `match`:
//!
//! - `GET /metrics` — Prometheus text exposition
//! - `GET /healthz`, `GET /livez` — the process answers
//! - `GET /readyz` — configuration loaded and audit trail writable (503 with the reason if not)
//! - `POST /admin/reload` — reload the configuration file (bearer token)
//! - `GET /admin/status` — config hash and generation, counts, open connections per worker,
//!   last reload (bearer token)
//! - `GET /.well-known/jwks.json` — the public key of `X-Kwanus-Identity` assertions

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::time::Instant;

use crate::audit::Health;
use crate::conn_guard::{Marked, OpenConnections, first_request_by};
use crate::metrics::Metrics;
use crate::reload::{Reloaded, Reloader};
use crate::shutdown::Signal;
use crate::snapshot::Shared;

/// What the admin endpoints read.
pub struct AdminState {
    /// The snapshot in force.
    pub shared: Shared,
    /// Metrics to render.
    pub metrics: Arc<Metrics>,
    /// Reload control.
    pub reloader: Arc<Reloader>,
    /// The audit writer's health, when there is a trail.
    pub audit: Option<Arc<Health>>,
    /// Partner connections open on each worker.
    pub workers: crate::server::WorkerLoads,
    /// Set when shutdown begins: `/readyz` fails from then on.
    pub stopping: Arc<std::sync::atomic::AtomicBool>,
    /// The rate-limit and idempotency backend.
    pub state: Arc<crate::state::State>,
    /// The misuse detector, for `POST /admin/partners/{id}/unsuspend`.
    pub misuse: Arc<crate::governance::misuse::Detector>,
    /// Where a lifted suspension is recorded.
    pub sink: Arc<dyn crate::outcome::OutcomeSink>,
}

/// Serves the admin endpoints on `listener` until `shutdown`.
///
/// The listener has its own connection cap (`admin.max_connections`) and the partner
/// listener's header timeout, so idle or slow admin sockets can never take the descriptors
/// or the time the partner port needs.
pub async fn run(listener: TcpListener, state: Arc<AdminState>, mut shutdown: Signal) {
    let open = OpenConnections::default();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "admin accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.wait() => return,
        };
        let snap = state.shared.load();
        let max = snap.admin.as_ref().map_or(64, |a| a.max_connections);
        let Some(slot) = open.try_open(max) else {
            tracing::debug!(client = %peer, max, "admin max_connections reached; closing");
            drop(stream);
            continue;
        };
        let timeout = snap.limits.client_header_timeout;
        let deadline = Instant::now() + timeout;
        let state = state.clone();
        tokio::spawn(async move {
            let (svc, seen) = Marked::new(service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(&state, req)) }
            }));
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(timeout);
            let conn = builder.serve_connection(TokioIo::new(stream), svc);
            let _ = first_request_by(conn, deadline, &seen).await;
            drop(slot);
        });
    }
}

/// The endpoints and the methods each allows (`Allow` on 405).
const ENDPOINTS: [(&str, &str); 7] = [
    ("/metrics", "GET"),
    ("/healthz", "GET"),
    ("/livez", "GET"),
    ("/readyz", "GET"),
    ("/.well-known/jwks.json", "GET"),
    ("/admin/reload", "POST"),
    ("/admin/status", "GET"),
];

fn handle(state: &AdminState, req: Request<Incoming>) -> Response<Full<Bytes>> {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => {
            let now = std::time::SystemTime::now();
            let exposition = state
                .metrics
                .scrape(&state.shared.load(), now, &state.misuse);
            let mut rsp = text(StatusCode::OK, exposition);
            rsp.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            rsp
        }
        (&Method::GET, "/healthz" | "/livez") => text(StatusCode::OK, "ok\n".into()),
        (&Method::GET, "/.well-known/jwks.json") => match &state.shared.load().identity {
            Some(signer) => {
                let mut rsp = text(StatusCode::OK, signer.jwks().to_owned());
                rsp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static("application/jwk-set+json"),
                );
                rsp
            }
            None => problem(
                StatusCode::NOT_FOUND,
                "route_not_found",
                "no [identity] signing key is configured",
            ),
        },
        (&Method::GET, "/readyz") => readyz(state),
        (&Method::POST, "/admin/reload") => refuse(state, &req).unwrap_or_else(|| reload(state)),
        (&Method::GET, "/admin/status") => refuse(state, &req).unwrap_or_else(|| status(state)),
        (&Method::POST, path) if unsuspend_target(path).is_some() => refuse(state, &req)
            .unwrap_or_else(|| unsuspend(state, unsuspend_target(path).unwrap_or_default())),
        (_, path) if unsuspend_target(path).is_some() => {
            let mut rsp = problem(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("{path} allows only: POST"),
            );
            rsp.headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
            rsp
        }
        (_, path) => match ENDPOINTS.iter().find(|(p, _)| *p == path) {
            Some((_, allow)) => {
                let mut rsp = problem(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    format!("{path} allows only: {allow}"),
                );
                rsp.headers_mut()
                    .insert(header::ALLOW, header::HeaderValue::from_static(allow));
                rsp
            }
            None => problem(
                StatusCode::NOT_FOUND,
                "route_not_found",
                "no admin endpoint at this path",
            ),
        },
    }
}

/// The partner id in `/admin/partners/{id}/unsuspend`.
fn unsuspend_target(path: &str) -> Option<&str> {
    path.strip_prefix("/admin/partners/")?
        .strip_suffix("/unsuspend")
        .filter(|id| !id.is_empty() && !id.contains('/'))
}

/// Lifts a partner's suspension for misuse (recorded in the trail).
fn unsuspend(state: &AdminState, id: &str) -> Response<Full<Bytes>> {
    if !state.shared.load().partner_index.contains_key(id) {
        return problem(
            StatusCode::NOT_FOUND,
            "route_not_found",
            "no partner with this id",
        );
    }
    let lifted = state.misuse.lift(id);
    if let Some(event) = &lifted {
        tracing::info!(partner = %id, "suspension lifted by an operator");
        state.sink.suspension(event);
    }
    json(
        StatusCode::OK,
        &serde_json::json!({ "partner": id, "was_suspended": lifted.is_some() }),
    )
}

fn readyz(state: &AdminState) -> Response<Full<Bytes>> {
    if state.stopping.load(Ordering::Relaxed) {
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "not ready: shutting down",
        );
    }
    match &state.audit {
        Some(h) if !h.healthy.load(Ordering::Relaxed) => problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "audit_unavailable",
            "not ready: the audit trail is not writable",
        ),
        _ => text(StatusCode::OK, "ready\n".into()),
    }
}

/// Checks `Authorization: Bearer <token>` against `admin.token_sha256` in constant time;
/// returns the refusal, or `None` when the caller may proceed.
fn refuse(state: &AdminState, req: &Request<Incoming>) -> Option<Response<Full<Bytes>>> {
    let snap = state.shared.load();
    let Some(want) = snap.admin.as_ref().and_then(|a| a.token_sha256) else {
        return Some(problem(
            StatusCode::FORBIDDEN,
            "admin_disabled",
            "admin endpoints are disabled: set admin.token_sha256",
        ));
    };
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let got = crate::auth::digest(presented.as_bytes());
    if bool::from(got.ct_eq(&want)) && !presented.is_empty() {
        None
    } else {
        let mut rsp = problem(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "a valid admin token is required",
        );
        rsp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer realm=\"kwanus-admin\""),
        );
        Some(rsp)
    }
}

fn reload(state: &AdminState) -> Response<Full<Bytes>> {
    let report = state.reloader.reload(crate::audit::ConfigTrigger::Admin);
    let (status, body) = match &report.result {
        Ok(r) => (
            StatusCode::OK,
            serde_json::json!({
                "result": if *r == Reloaded::Swapped { "ok" } else { "unchanged" },
                "old_config_sha256": report.old_sha256,
                "new_config_sha256": report.new_sha256,
                "generation": state.reloader.generation(),
            }),
        ),
        Err(e) => {
            // RFC 9457 extension members: every problem, and what stays in force.
            return problem_with(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_config",
                "the configuration was refused; the running one stays in force",
                serde_json::json!({
                    "result": "error",
                    "problems": e.to_string().lines().collect::<Vec<_>>(),
                    "config_sha256_in_force": report.old_sha256,
                }),
            );
        }
    };
    json(status, &body)
}

fn status(state: &AdminState) -> Response<Full<Bytes>> {
    let snap = state.shared.load();
    let body = serde_json::json!({
        "config_sha256": snap.config_sha256,
        "generation": state.reloader.generation(),
        "partners": snap.partners.len(),
        "routes": snap.routes.len(),
        "keys": snap.keys.len(),
        "upstreams": snap.upstreams.len(),
        "workers": state.workers.open(),
        "last_reload": state.reloader.last(),
        "state": state.state.status(),
        "safeguards": crate::safeguards::status(&snap).into_iter().map(|s| serde_json::json!({
            "safeguard": s.safeguard.as_str(),
            "on": s.off.is_none(),
            "detail": s.off,
        })).collect::<Vec<_>>(),
        "suspended": state.misuse.suspended().iter().map(|(partner, until)| serde_json::json!({
            "partner": &**partner,
            "until": humantime::format_rfc3339_seconds(*until).to_string(),
        })).collect::<Vec<_>>(),
        "audit": state.audit.as_ref().map(|h| serde_json::json!({
            "healthy": h.healthy.load(Ordering::Relaxed),
            "records": h.records.load(Ordering::Relaxed),
            "errors": h.errors.load(Ordering::Relaxed),
            "lost": h.lost.load(Ordering::Relaxed),
        })),
    });
    json(StatusCode::OK, &body)
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut rsp = Response::new(Full::new(Bytes::from(body)));
    *rsp.status_mut() = status;
    rsp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    rsp
}

fn json(status: StatusCode, body: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut rsp = Response::new(Full::new(Bytes::from(body.to_string())));
    *rsp.status_mut() = status;
    rsp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    rsp
}

/// An RFC 9457 problem, shaped like the partner listener's (`code` is stable).
fn problem(
    status: StatusCode,
    code: &'static str,
    detail: impl Into<String>,
) -> Response<Full<Bytes>> {
    problem_with(status, code, detail, serde_json::Value::Null)
}

/// A problem with extension members (`extra` must be an object to add any).
fn problem_with(
    status: StatusCode,
    code: &'static str,
    detail: impl Into<String>,
    extra: serde_json::Value,
) -> Response<Full<Bytes>> {
    let mut body = serde_json::json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "code": code,
        "detail": detail.into(),
    });
    if let (Some(b), serde_json::Value::Object(extra)) = (body.as_object_mut(), extra) {
        b.extend(extra);
    }
    let mut rsp = json(status, &body);
    rsp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(crate::proxy::PROBLEM_JSON),
    );
    rsp
}
