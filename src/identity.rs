//! Signed identity assertions: `X-Kwanus-Identity`, a short-lived JWT that tells an upstream,
//! without trusting the network, which partner and permission the gateway authorised.
//!
//! The public key is served as JWKS at `GET /.well-known/jwks.json` on the admin listener.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

/// Signs identity assertions with one key.
pub struct IdentitySigner {
    key: EncodingKey,
    header: Header,
    issuer: String,
    ttl: Duration,
    jwks: String,
}

/// The claims of an assertion.
#[derive(Debug, Serialize)]
pub struct IdentityClaims<'a> {
    /// The gateway.
    pub iss: &'a str,
    /// The upstream's name.
    pub aud: &'a str,
    /// The partner.
    pub sub: &'a str,
    /// The partner's tier.
    pub tier: u8,
    /// The partner's stage.
    pub stage: &'a str,
    /// The permission that allowed the request.
    pub permission: &'a str,
    /// The route.
    pub route: &'a str,
    /// The request id.
    pub jti: &'a str,
    /// Issued at (Unix seconds).
    pub iat: u64,
    /// Expires at (Unix seconds).
    pub exp: u64,
}

// === impl IdentitySigner ===

impl IdentitySigner {
    /// Loads an Ed25519 (EdDSA) or P-256 (ES256) PKCS#8 PEM key.
    pub fn from_pem(pem: &[u8], issuer: String, ttl: Duration) -> Result<Self, String> {
        let (key, alg) = match EncodingKey::from_ed_pem(pem) {
            Ok(k) => (k, Algorithm::EdDSA),
            Err(_) => (
                EncodingKey::from_ec_pem(pem)
                    .map_err(|_| "not an Ed25519 or P-256 private key in PKCS#8 PEM".to_owned())?,
                Algorithm::ES256,
            ),
        };
        let mut jwk = match alg {
            // jsonwebtoken cannot derive an Ed25519 JWK from its encoding key; derive it here.
            Algorithm::EdDSA => ed25519_jwk(pem)?,
            _ => Jwk::from_encoding_key(&key, alg).map_err(|e| e.to_string())?,
        };
        let kid = jwk
            .thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
            .map_err(|e| e.to_string())?;
        jwk.common.key_id = Some(kid.clone());
        let jwks = serde_json::to_string(&JwkSet { keys: vec![jwk] }).map_err(|e| e.to_string())?;
        let mut header = Header::new(alg);
        header.kid = Some(kid);
        Ok(Self {
            key,
            header,
            issuer,
            ttl,
            jwks,
        })
    }

    /// The public key set, as JSON.
    pub fn jwks(&self) -> &str {
        &self.jwks
    }

    /// The gateway's `iss`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Signs an assertion; `iss`, `iat` and `exp` are filled from the signer, `now` and the TTL.
    pub fn sign(&self, mut claims: IdentityClaims<'_>, now: SystemTime) -> Option<String> {
        let iat = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        claims.iat = iat;
        claims.exp = iat + self.ttl.as_secs();
        debug_assert_eq!(claims.iss, self.issuer);
        jsonwebtoken::encode(&self.header, &claims, &self.key).ok()
    }
}

impl std::fmt::Debug for IdentitySigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentitySigner")
            .field("alg", &self.header.alg)
            .field("kid", &self.header.kid)
            .finish()
    }
}

/// The public JWK (`OKP`, `Ed25519`) of an Ed25519 PKCS#8 PEM private key.
fn ed25519_jwk(pem: &[u8]) -> Result<Jwk, String> {
    use base64::Engine as _;
    use ed25519_dalek::pkcs8::DecodePrivateKey;
    let text = std::str::from_utf8(pem).map_err(|e| e.to_string())?;
    let key = ed25519_dalek::SigningKey::from_pkcs8_pem(text)
        .map_err(|e| format!("not an Ed25519 private key: {e}"))?;
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
    serde_json::from_value(serde_json::json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "x": x,
        "alg": "EdDSA",
        "use": "sig",
    }))
    .map_err(|e| e.to_string())
}
