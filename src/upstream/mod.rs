//! Upstreams: what `[[upstreams]]` describes (validated when the configuration loads, holding no
//! connections), and the registry of pooled clients that outlives snapshots — keyed by what
//! makes a connection reusable (URL, protocol, timeouts, TLS material) — so a reload keeps warm
//! connections for every upstream it does not change.

mod body;
mod client;

pub use body::{BodyStalled, BodyTooLarge, BoxError, CappedBody, ClientBody, RequestBody};
pub(crate) use body::{MALFORMED, STALLED, TOO_LARGE};
pub use client::{Pooled, SendError};

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use http::uri::{Authority, Scheme};
use http::{HeaderName, HeaderValue, Uri};
use hyper_util::client::legacy::connect::HttpConnector;

/// One worker's connections to one upstream.
pub(crate) type Pool = Arc<client::WorkerPool>;

/// An upstream service, as validated from `[[upstreams]]`; its client comes from [`Pools`].
pub struct Upstream {
    /// Its name.
    pub name: Arc<str>,
    scheme: Scheme,
    authority: Authority,
    /// `scheme://authority/`: what its connections connect to.
    origin: Uri,
    host: HeaderValue,
    /// `https://`.
    https: bool,
    /// The TLS client configuration (files read when the configuration loads; unused for
    /// plain HTTP, whose connector type is the same).
    tls: Arc<rustls::ClientConfig>,
    http2: bool,
    connect_timeout: Duration,
    /// What makes its connections reusable by another snapshot.
    key: [u8; 32],
    client: OnceLock<UpstreamClient>,
    /// Response headers never passed to partners, besides the built-in identifying ones.
    pub response_headers_remove: Vec<HeaderName>,
}

/// How to reach an upstream besides its URL.
#[derive(Debug, Default)]
pub struct UpstreamOptions {
    /// PEM CA bundle for `https://` (default: the system roots).
    pub ca_file: Option<std::path::PathBuf>,
    /// PEM client certificate and key for upstream mTLS.
    pub client_cert: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// Speak HTTP/2 (ALPN h2 over TLS, prior knowledge over plain HTTP).
    pub http2: bool,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// `response_headers_remove`.
    pub response_headers_remove: Vec<HeaderName>,
}

/// Pooled keep-alive clients (HTTP or HTTPS), one pool per worker thread.
///
/// A pooled connection's task runs on the worker that opened it; a pool per worker keeps
/// every upstream exchange on one thread, with no cross-thread wake-ups (measured in
/// `benches/load/run.sh`: one shared pool costs about a quarter of the throughput).
#[derive(Clone)]
pub struct UpstreamClient {
    pools: Arc<[Pool]>,
}

/// The clients of every upstream of every snapshot in force, by upstream identity.
pub struct Pools {
    workers: usize,
    by_key: Mutex<HashMap<[u8; 32], Weak<[Pool]>>>,
}

// === impl Upstream ===

impl Upstream {
    /// Validates an upstream URL (`http://` or `https://host[:port]`, no path, query or user
    /// info) and reads its TLS files; no connection is made.
    pub fn new(name: &str, url: &str, opts: &UpstreamOptions) -> Result<Self, String> {
        let uri: Uri = url.parse().map_err(|e| format!("{e}"))?;
        let scheme = uri.scheme().cloned().ok_or("it has no scheme")?;
        if scheme != Scheme::HTTP && scheme != Scheme::HTTPS {
            return Err(format!(
                "scheme {scheme} is not supported, use http or https"
            ));
        }
        let authority = uri.authority().cloned().ok_or("it has no host")?;
        if authority.as_str().contains('@') {
            return Err("user information is not allowed in upstream URLs".into());
        }
        if authority.host().is_empty() {
            return Err("it has no host".into());
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err("an upstream URL names a server only, without path or query".into());
        }
        let host = HeaderValue::from_str(authority.as_str()).map_err(|e| e.to_string())?;
        let origin = Uri::builder()
            .scheme(scheme.clone())
            .authority(authority.clone())
            .path_and_query("/")
            .build()
            .map_err(|e| e.to_string())?;
        let https = scheme == Scheme::HTTPS;
        let tls = if https {
            let client_cert = opts
                .client_cert
                .as_ref()
                .map(|(c, k)| (c.as_path(), k.as_path()));
            crate::tls::client_config(opts.ca_file.as_deref(), client_cert)?
        } else {
            rustls::ClientConfig::builder_with_provider(crate::tls::provider())
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth()
        };
        Ok(Self {
            name: name.into(),
            key: identity(&scheme, &authority, opts)?,
            scheme,
            authority,
            origin,
            host,
            https,
            tls: Arc::new(tls),
            http2: opts.http2,
            connect_timeout: opts.connect_timeout,
            client: OnceLock::new(),
            response_headers_remove: opts.response_headers_remove.clone(),
        })
    }

    /// `host[:port]` as sent in `Host`.
    pub fn host_header(&self) -> &HeaderValue {
        &self.host
    }

    /// The request URI for a path and query on this upstream (one buffer, no formatting).
    pub fn uri(&self, path: &str, query: Option<&str>) -> Result<Uri, http::Error> {
        let mut pq = Vec::with_capacity(path.len() + query.map_or(0, |q| q.len() + 1));
        pq.extend_from_slice(path.as_bytes());
        if let Some(q) = query {
            pq.push(b'?');
            pq.extend_from_slice(q.as_bytes());
        }
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        parts.path_and_query = Some(http::uri::PathAndQuery::from_maybe_shared(
            bytes::Bytes::from(pq),
        )?);
        Ok(Uri::from_parts(parts)?)
    }

    /// The pool of `worker`, once the snapshot was bound by [`Pools::bind`].
    pub(crate) fn pool(&self, worker: usize) -> Option<&Pool> {
        let pools = &self.client.get()?.pools;
        Some(&pools[worker % pools.len()])
    }
}

impl fmt::Debug for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upstream")
            .field("name", &self.name)
            .field("url", &format_args!("{}://{}", self.scheme, self.authority))
            .field("http2", &self.http2)
            .finish_non_exhaustive()
    }
}

/// What makes two upstreams' connections interchangeable: scheme, authority, protocol,
/// connect timeout, and the bytes of the TLS files (a rotated certificate is a new identity).
fn identity(
    scheme: &Scheme,
    authority: &Authority,
    opts: &UpstreamOptions,
) -> Result<[u8; 32], String> {
    let mut material = format!(
        "{scheme}\n{authority}\n{}\n{}\n",
        opts.http2,
        opts.connect_timeout.as_nanos()
    )
    .into_bytes();
    let files = opts
        .ca_file
        .iter()
        .chain(opts.client_cert.iter().flat_map(|(c, k)| [c, k]));
    for path in files {
        let bytes = crate::files::read_named(path)?;
        material.extend_from_slice(&crate::digest::digest(&bytes));
    }
    Ok(crate::digest::digest(&material))
}

// === impl Pools ===

impl Pools {
    /// A registry whose clients have one pool per worker thread.
    pub fn new(workers: usize) -> Self {
        Self {
            workers: workers.max(1),
            by_key: Mutex::new(HashMap::new()),
        }
    }

    /// Gives every upstream of `upstreams` its client: the one already serving an upstream of
    /// the same identity (warm connections survive a reload), or a new one.
    pub fn bind(&self, upstreams: &[Arc<Upstream>]) {
        let mut by_key = match self.by_key.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        // Pools no snapshot uses any more are gone; forget them.
        by_key.retain(|_, pools| pools.strong_count() > 0);
        for upstream in upstreams {
            let pools = by_key
                .get(&upstream.key)
                .and_then(Weak::upgrade)
                .unwrap_or_else(|| {
                    let pools = self.build(upstream);
                    by_key.insert(upstream.key, Arc::downgrade(&pools));
                    pools
                });
            let _ = upstream.client.set(UpstreamClient { pools });
        }
    }

    fn build(&self, u: &Upstream) -> Arc<[Pool]> {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(u.connect_timeout));
        connector.set_nodelay(true);
        connector.enforce_http(false);
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*u.tls).clone())
            .https_or_http()
            .enable_http1();
        let tls = u.https;
        let https = if u.http2 && tls {
            builder.enable_http2().wrap_connector(connector)
        } else {
            builder.wrap_connector(connector)
        };
        (0..self.workers)
            .map(|_| {
                Arc::new(client::WorkerPool::new(
                    https.clone(),
                    u.origin.clone(),
                    u.http2 && !tls,
                ))
            })
            .collect()
    }

    /// Upstream identities with live pools.
    pub fn len(&self) -> usize {
        self.by_key
            .lock()
            .map_or(0, |m| m.values().filter(|p| p.strong_count() > 0).count())
    }

    /// Whether no pool is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for Pools {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pools")
            .field("workers", &self.workers)
            .field("upstreams", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests;
