//! TLS with certificates made in the test (rcgen): TLS 1.3 + ALPN h2, h1 over TLS, partner
//! mTLS binding (for API keys and JWTs alike), untrusted and expired client certificates, an
//! https upstream with a private CA, certificate rotation through reload, and real clients
//! (curl --http2, h2load).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::support::*;
use bytes::Bytes;
use http_body_util::{Empty, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::KeyPair;
use rustls::pki_types::{PrivateKeyDer, ServerName};
use tokio::net::{TcpListener, TcpStream};

#[tokio::test]
async fn tls13_with_alpn_h2_and_http1_over_tls() {
    let p = pki("alpn");
    let gw = Gateway::start_with(&tls_config(&p)).await;
    let ca = p.server_ca.pem.clone();
    let h2 = tls_get(gw.app.addr(), &ca, None, &[b"h2", b"http/1.1"], GLOBEX)
        .await
        .expect("h2");
    assert_eq!(h2.status, 200, "{h2:?}");
    assert_eq!(h2.version, http::Version::HTTP_2);
    assert_eq!(h2.alpn.as_deref(), Some(&b"h2"[..]));
    assert_eq!(h2.tls, Some(rustls::ProtocolVersion::TLSv1_3));
    assert_eq!(gw.upstream.last().headers["x-forwarded-proto"], "https");

    let h1 = tls_get(gw.app.addr(), &ca, None, &[b"http/1.1"], GLOBEX)
        .await
        .expect("h1");
    assert_eq!(
        (h1.status, h1.version),
        (200, http::Version::HTTP_11),
        "{h1:?}"
    );
    assert_eq!(h1.alpn.as_deref(), Some(&b"http/1.1"[..]));

    // Plain HTTP on a TLS listener is not served.
    let plain = raw(gw.app.addr(), &raw_get("/v1/reports/1", GLOBEX)).await;
    assert!(!plain.text.starts_with("HTTP/1.1 200"), "{}", plain.text);
}

#[tokio::test]
async fn a_token_for_a_bound_partner_needs_the_bound_certificate_too() {
    use jsonwebtoken::{Algorithm, EncodingKey, Header, jwk::Jwk, jwk::JwkSet};
    let p = pki("mtls-jwt");
    // A test identity provider with one ES256 key, trusted for acme.
    let pair = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key pair");
    let enc = EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).expect("encoding key");
    let mut jwk = Jwk::from_encoding_key(&enc, Algorithm::ES256).expect("jwk");
    jwk.common.key_id = Some("es-1".into());
    let jwks = p.dir.join("jwks.json");
    let set = JwkSet { keys: vec![jwk] };
    std::fs::write(&jwks, serde_json::to_string(&set).expect("jwks")).expect("write jwks");
    let config = tls_config(&p).replacen(
        "require_mtls = true\n",
        "require_mtls = true\njwt_issuers = [\"https://idp.test\"]\n",
        1,
    ) + &format!(
        "\n[[auth.jwt]]\nissuer = \"https://idp.test\"\naudiences = [\"kwanus-gateway\"]\nalgorithms = [\"ES256\"]\njwks_file = {:?}\nleeway = \"5s\"\n",
        jwks.display().to_string()
    );
    let gw = Gateway::start_with(&config).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs();
    let claims = serde_json::json!({
        "iss": "https://idp.test", "aud": "kwanus-gateway", "sub": "acme",
        "exp": now + 120, "iat": now,
    });
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("es-1".into());
    let token = jsonwebtoken::encode(&header, &claims, &enc).expect("sign");
    let bearer = format!("Bearer {token}");
    let ca = p.server_ca.pem.clone();
    let alpn: &[&[u8]] = &[b"h2", b"http/1.1"];
    let addr = gw.app.addr();

    let ok = tls_get_with(addr, &ca, Some(&p.bound), alpn, ("authorization", &bearer))
        .await
        .expect("bound");
    assert_eq!(ok.status, 200, "{ok:?}");
    for client in [None, Some(&p.other)] {
        let r = tls_get_with(addr, &ca, client, alpn, ("authorization", &bearer))
            .await
            .expect("answered");
        assert_eq!(r.status, 401, "{r:?}");
        assert!(
            r.body.contains("\"code\":\"invalid_credentials\""),
            "{}",
            r.body
        );
    }
    let seen: Vec<_> = gw
        .outcomes
        .all()
        .iter()
        .map(|o| {
            (
                o.reason,
                o.credential.map(|c| c.as_str()),
                o.partner.as_deref().map(str::to_owned),
            )
        })
        .collect();
    let acme = Some("acme".to_owned());
    assert_eq!(
        seen,
        [
            ("permitted", Some("jwt"), acme.clone()),
            ("mtls_mismatch", None, acme.clone()),
            ("mtls_mismatch", None, acme),
        ]
    );
}

#[tokio::test]
async fn a_key_bound_to_a_certificate_needs_that_certificate() {
    let p = pki("mtls");
    let gw = Gateway::start_with(&tls_config(&p)).await;
    let ca = p.server_ca.pem.clone();
    let alpn: &[&[u8]] = &[b"h2", b"http/1.1"];
    let addr = gw.app.addr();

    let ok = tls_get(addr, &ca, Some(&p.bound), alpn, ACME)
        .await
        .expect("bound");
    assert_eq!(ok.status, 200, "{ok:?}");

    for client in [None, Some(&p.other)] {
        let r = tls_get(addr, &ca, client, alpn, ACME)
            .await
            .expect("answered");
        assert_eq!(r.status, 401, "{r:?}");
        assert!(
            r.body.contains("\"code\":\"invalid_credentials\""),
            "{}",
            r.body
        );
    }
    let reasons: Vec<_> = gw.outcomes.all().iter().map(|o| o.reason).collect();
    assert_eq!(reasons, ["permitted", "mtls_mismatch", "mtls_mismatch"]);

    // A partner without a binding may come with or without a certificate.
    assert_eq!(
        tls_get(addr, &ca, None, alpn, GLOBEX)
            .await
            .expect("globex")
            .status,
        200
    );
    assert_eq!(
        tls_get(addr, &ca, Some(&p.other), alpn, GLOBEX)
            .await
            .expect("globex")
            .status,
        200
    );

    // Untrusted and expired client certificates do not get through the handshake.
    for bad in [&p.untrusted, &p.expired] {
        let r = tls_get(addr, &ca, Some(bad), alpn, GLOBEX).await;
        assert!(r.is_err(), "accepted {r:?}");
    }
}

/// An https upstream with its own certificate from the test CA; records the HTTP version.
/// With `client_ca`, it requires a client certificate from that CA (upstream mTLS).
async fn tls_upstream(
    p: &Pki,
    client_ca: Option<&Path>,
) -> (SocketAddr, Arc<Mutex<Vec<(http::Version, String)>>>) {
    let certs = vec![p.server.der.clone()];
    let key = PrivateKeyDer::try_from(p.server.key_der.clone()).expect("key");
    let builder = rustls::ServerConfig::builder_with_provider(kwanus_gateway::tls::provider())
        .with_safe_default_protocol_versions()
        .expect("versions");
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in rustls_pemfile_certs(&std::fs::read(ca).expect("ca")) {
                roots.add(c).expect("root");
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                kwanus_gateway::tls::provider(),
            )
            .build()
            .expect("verifier");
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(certs, key).expect("server config");
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let rec = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let rec = rec.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let partner = req
                            .headers()
                            .get("x-kwanus-partner")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-")
                            .to_owned();
                        rec.lock().expect("lock").push((req.version(), partner));
                        async {
                            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(
                                b"{\"tls\":true}",
                            ))))
                        }
                    });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    (addr, seen)
}

/// The fixture with its upstream at `https://addr`, plus `extra` upstream settings.
fn https_upstream(addr: SocketAddr, extra: &str) -> String {
    FIXTURE.replacen(
        "name = \"api\"\nurl = \"UPSTREAM\"",
        &format!(
            "name = \"api\"\nurl = \"https://127.0.0.1:{}\"\n{extra}",
            addr.port()
        ),
        1,
    )
}

#[tokio::test]
async fn https_upstreams_with_a_private_ca_over_h1_and_h2() {
    let p = pki("upstream");
    let (addr, seen) = tls_upstream(&p, None).await;
    let ca = p.server_ca.pem.clone().display().to_string();
    for (http2, want) in [
        (false, http::Version::HTTP_11),
        (true, http::Version::HTTP_2),
    ] {
        let gw = Gateway::start_with(&https_upstream(
            addr,
            &format!("ca_file = {ca:?}\nhttp2 = {http2}"),
        ))
        .await;
        let r = gw.get("/v1/reports/1", ACME).await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(&r.body[..], b"{\"tls\":true}");
        let last = seen
            .lock()
            .expect("lock")
            .last()
            .cloned()
            .expect("upstream saw it");
        assert_eq!(last, (want, "acme".to_owned()));
    }
    // Without the private CA the upstream's certificate is not trusted: 502.
    let gw = Gateway::start_with(&https_upstream(addr, "")).await;
    let r = gw.get("/v1/reports/1", ACME).await;
    assert_eq!(r.status, 502, "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_rotate_on_reload_for_new_connections_only() {
    let p = pki("rotate");
    let path = p.dir.join("gateway.toml");
    let gw = Gateway::start_file(&tls_config(&p), &path, false).await;
    let ca = p.server_ca.pem.clone();
    let addr = gw.app.addr();

    // Keep one HTTP/1.1 connection open on the first certificate.
    let connector =
        tokio_rustls::TlsConnector::from(Arc::new(client_config(&ca, None, &[b"http/1.1"])));
    let tls = connector
        .connect(
            ServerName::try_from("localhost").expect("name"),
            TcpStream::connect(addr).await.expect("tcp"),
        )
        .await
        .expect("handshake");
    let first_cert = tls.get_ref().1.peer_certificates().expect("cert")[0].clone();
    assert_eq!(first_cert, p.server.der);
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .expect("h1");
    tokio::spawn(conn);
    let get = || {
        http::Request::get("/v1/reports/1")
            .header("host", "localhost")
            .header("x-api-key", GLOBEX)
            .body(Empty::<Bytes>::new())
            .expect("request")
    };
    assert_eq!(send.send_request(get()).await.expect("first").status(), 200);

    // Rotate: a new certificate in the same files, then reload.
    let rotated = p.server_ca.issue("gateway", false, false);
    assert_ne!(rotated.der, p.server.der);
    let report = gw.app.reload(kwanus_gateway::audit::ConfigTrigger::Admin);
    assert!(report.result.is_ok(), "{:?}", report.result);

    let fresh = tls_get(addr, &ca, None, &[b"h2"], GLOBEX)
        .await
        .expect("new connection");
    assert_eq!(
        fresh.server_cert, rotated.der,
        "new connections use the new certificate"
    );
    assert_eq!(
        send.send_request(get())
            .await
            .expect("old connection")
            .status(),
        200,
        "established connections keep theirs"
    );
}

fn tool(name: &str) -> std::process::Command {
    std::process::Command::new(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_http2_and_h2load_against_the_tls_listener() {
    let p = pki("clients");
    let gw = Gateway::start_with(&tls_config(&p)).await;
    let url = format!("https://localhost:{}/v1/reports/1", gw.app.addr().port());
    let ca = p.server_ca.pem.clone();
    let resolve = format!("localhost:{}:127.0.0.1", gw.app.addr().port());
    let out = tokio::task::spawn_blocking({
        let (url, ca, resolve) = (url.clone(), ca.clone(), resolve.clone());
        move || {
            tool("curl")
                .args(["-sS", "--http2", "--resolve", &resolve, "--cacert"])
                .arg(&ca)
                .args([
                    "-H",
                    &format!("X-Api-Key: {GLOBEX}"),
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_version} %{http_code}",
                    &url,
                ])
                .output()
                .expect("curl")
        }
    })
    .await
    .expect("join");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "2 200",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = tokio::task::spawn_blocking(move || {
        tool("h2load")
            .args([
                "-n",
                "200",
                "-c",
                "4",
                "-m",
                "8",
                "-H",
                &format!("x-api-key: {GLOBEX}"),
                &url.replace("localhost", "127.0.0.1"),
            ])
            .output()
            .expect("h2load (apt-get install nghttp2-client; .ci/run does it)")
    })
    .await
    .expect("join");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("200 succeeded"), "{text}");
    assert!(text.contains("status codes: 200 2xx"), "{text}");
}

#[tokio::test]
async fn upstream_mtls_presents_the_configured_client_certificate() {
    let p = pki("upstream-mtls");
    let client_ca = p.dir.join("client-ca.pem");
    let (addr, seen) = tls_upstream(&p, Some(&client_ca)).await;
    let ca = p.server_ca.pem.display().to_string();
    let upstream = |extra: &str| https_upstream(addr, &format!("ca_file = {ca:?}\n{extra}"));
    let with_cert = format!(
        "client_cert = {:?}\nclient_key = {:?}",
        p.bound.cert.display().to_string(),
        p.bound.key.display().to_string()
    );
    let gw = Gateway::start_with(&upstream(&with_cert)).await;
    assert_eq!(gw.get("/v1/reports/1", ACME).await.status, 200);
    assert_eq!(seen.lock().expect("lock").len(), 1);
    let gw = Gateway::start_with(&upstream("")).await;
    assert_eq!(
        gw.get("/v1/reports/1", ACME).await.status,
        502,
        "no client certificate, no upstream"
    );
    assert_eq!(seen.lock().expect("lock").len(), 1);
}

#[tokio::test]
async fn a_tls_connection_that_sends_no_request_is_closed_after_the_header_timeout() {
    let p = pki("silent");
    let gw = Gateway::start_with(&tls_config(&p)).await;
    let ca = p.server_ca.pem.clone();
    // The handshake completes, then nothing: the deadline from accept (2s) still applies.
    for alpn in [&b"h2"[..], b"http/1.1"] {
        let connector =
            tokio_rustls::TlsConnector::from(Arc::new(client_config(&ca, None, &[alpn])));
        let tcp = TcpStream::connect(gw.app.addr()).await.expect("connect");
        let mut tls = connector
            .connect(ServerName::try_from("localhost").expect("name"), tcp)
            .await
            .expect("handshake");
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(
            std::time::Duration::from_secs(8),
            tokio::io::AsyncReadExt::read_to_end(&mut tls, &mut rest),
        )
        .await;
        assert!(closed.is_ok(), "{alpn:?}: still open");
    }
    // A raw TCP socket that never starts the handshake is closed too.
    let mut s = TcpStream::connect(gw.app.addr()).await.expect("connect");
    assert!(closed_within(&mut s, std::time::Duration::from_secs(8)).await);
    assert!(gw.outcomes.all().is_empty());
}
