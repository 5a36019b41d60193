//! A test PKI made with rcgen (CAs, server and client certificates in files), the gateway
//! configuration that uses it, and TLS clients (rustls, hyper h1/h2) that fetch through it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;

use super::{FIXTURE, temp_dir};

/// A CA that issues certificates into files.
pub struct Ca {
    pub issuer: CertifiedIssuer<'static, KeyPair>,
    pub dir: PathBuf,
    pub pem: PathBuf,
}

/// A certificate and key on disk, and the DER for fingerprints.
#[derive(Clone)]
pub struct Issued {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub der: CertificateDer<'static>,
    pub key_der: Vec<u8>,
}

impl Ca {
    pub fn new(dir: &Path, name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let issuer =
            CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("ca");
        let pem = dir.join(format!("{name}.pem"));
        std::fs::write(&pem, issuer.pem()).expect("write ca");
        Self {
            issuer,
            dir: dir.to_owned(),
            pem,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.pem"))
    }

    pub fn issue(&self, name: &str, client: bool, expired: bool) -> Issued {
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        params
            .subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse().expect("ip")));
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        if expired {
            params.not_before = rcgen::date_time_ymd(2001, 1, 1);
            params.not_after = rcgen::date_time_ymd(2002, 1, 1);
        }
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign");
        let issued = Issued {
            cert: self.path(name),
            key: self.dir.join(format!("{name}-key.pem")),
            der: cert.der().clone(),
            key_der: key.serialize_der(),
        };
        std::fs::write(&issued.cert, cert.pem()).expect("write cert");
        std::fs::write(&issued.key, key.serialize_pem()).expect("write key");
        issued
    }
}

/// Everything a TLS test needs: server CA and certificate, client CA and client certificates.
pub struct Pki {
    pub dir: PathBuf,
    pub server_ca: Ca,
    pub server: Issued,
    pub bound: Issued,
    pub other: Issued,
    pub expired: Issued,
    pub untrusted: Issued,
}

pub fn pki(name: &str) -> Pki {
    let dir = temp_dir(name);
    let server_ca = Ca::new(&dir, "server-ca");
    let client_ca = Ca::new(&dir, "client-ca");
    let rogue_ca = Ca::new(&dir, "rogue-ca");
    Pki {
        server: server_ca.issue("gateway", false, false),
        bound: client_ca.issue("acme-client", true, false),
        other: client_ca.issue("other-client", true, false),
        expired: client_ca.issue("expired-client", true, true),
        untrusted: rogue_ca.issue("rogue-client", true, false),
        server_ca,
        dir,
    }
}

/// The fixture with TLS on, and acme bound to `bound` with `require_mtls`.
pub fn tls_config(p: &Pki) -> String {
    let tls = format!(
        "drain_timeout = \"5s\"\ntls = {{ cert = {:?}, key = {:?}, client_ca = {:?} }}",
        p.server.cert.display().to_string(),
        p.server.key.display().to_string(),
        p.dir.join("client-ca.pem").display().to_string()
    );
    let bound = hex::encode(kwanus_gateway::tls::fingerprint(&p.bound.der));
    FIXTURE.replacen("drain_timeout = \"5s\"", &tls, 1).replacen(
        "id = \"acme\"\ntier = 1\nstage = \"active\"\n",
        &format!("id = \"acme\"\ntier = 1\nstage = \"active\"\nrequire_mtls = true\nclient_cert_sha256 = [\"{bound}\"]\n"),
        1,
    )
}

/// What a TLS request saw.
#[derive(Debug)]
pub struct Seen {
    pub status: u16,
    pub version: http::Version,
    pub alpn: Option<Vec<u8>>,
    pub tls: Option<rustls::ProtocolVersion>,
    pub server_cert: CertificateDer<'static>,
    pub body: String,
}

pub fn client_config(ca: &Path, client: Option<&Issued>, alpn: &[&[u8]]) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(ca).expect("ca");
    for cert in rustls_pemfile_certs(&pem) {
        roots.add(cert).expect("root");
    }
    let builder = rustls::ClientConfig::builder_with_provider(kwanus_gateway::tls::provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    let mut config = match client {
        Some(c) => builder
            .with_client_auth_cert(
                vec![c.der.clone()],
                PrivateKeyDer::try_from(c.key_der.clone()).expect("key"),
            )
            .expect("client auth"),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
    config
}

pub fn rustls_pemfile_certs(pem: &[u8]) -> Vec<CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem)
        .map(|c| c.expect("pem"))
        .collect()
}

/// One request over a fresh TLS connection, with an API key.
pub async fn tls_get(
    addr: SocketAddr,
    ca: &Path,
    client: Option<&Issued>,
    alpn: &[&[u8]],
    key: &str,
) -> Result<Seen, String> {
    tls_get_with(addr, ca, client, alpn, ("x-api-key", key)).await
}

/// One request over a fresh TLS connection, with the credential header given.
pub async fn tls_get_with(
    addr: SocketAddr,
    ca: &Path,
    client: Option<&Issued>,
    alpn: &[&[u8]],
    credential: (&str, &str),
) -> Result<Seen, String> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config(ca, client, alpn)));
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let tls = connector
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let (_, conn) = tls.get_ref();
    let negotiated = conn.alpn_protocol().map(<[u8]>::to_vec);
    let version = conn.protocol_version();
    let server_cert = conn.peer_certificates().expect("server cert")[0].clone();
    let req = http::Request::get(format!("https://localhost:{}/v1/reports/1", addr.port()))
        .header(credential.0, credential.1)
        .body(Empty::<Bytes>::new())
        .expect("request");
    let io = TokioIo::new(tls);
    let rsp = if negotiated.as_deref() == Some(b"h2") {
        let (mut send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        send.send_request(req).await.map_err(|e| e.to_string())?
    } else {
        let (mut send, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let mut req = req;
        *req.uri_mut() = "/v1/reports/1".parse().expect("uri");
        req.headers_mut()
            .insert("host", "localhost".parse().expect("host"));
        send.send_request(req).await.map_err(|e| e.to_string())?
    };
    let status = rsp.status().as_u16();
    let version_http = rsp.version();
    let body = rsp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok(Seen {
        status,
        version: version_http,
        alpn: negotiated,
        tls: version,
        server_cert,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}
