//! `Partner` and `Principal`: the only facts about the caller that policy may see.

use std::collections::HashSet;
use std::sync::Arc;

use crate::model::{Stage, Tier};

/// A partner as compiled from the configuration.
#[derive(Debug)]
pub struct Partner {
    /// The partner id (bounded by the config, safe as a metric label).
    pub id: Arc<str>,
    /// Its tier.
    pub tier: Tier,
    /// Its lifecycle stage.
    pub stage: Stage,
    /// Exactly the permissions listed for it.
    pub permissions: HashSet<Arc<str>, crate::model::FastHash>,
    /// Client certificates its keys are bound to.
    pub client_certs: Vec<crate::model::CertFingerprint>,
    /// Its keys count only over a connection with one of `client_certs`.
    pub require_mtls: bool,
    /// Token issuers that may name it.
    pub jwt_issuers: Vec<Arc<str>>,
    /// Its rate limit (from its tier, or its own override); `None`: unlimited.
    pub rate: Option<crate::model::Rate>,
    /// Where a deprecated partner migrates to (`Link: <url>; rel="deprecation"`).
    pub migration_url: Option<Arc<str>>,
    /// `X-Kwanus-Partner` and `X-Kwanus-Tier` for the upstream, made once.
    pub headers: [http::HeaderValue; 2],
}

/// A configuration-made string as a header value, made once and cloned per request (config
/// validation keeps ids and names to header-safe characters; anything else is left empty).
pub fn header_value(s: &str) -> http::HeaderValue {
    http::HeaderValue::from_maybe_shared(bytes::Bytes::copy_from_slice(s.as_bytes()))
        .unwrap_or_else(|_| http::HeaderValue::from_static(""))
}

/// How the key reached the gateway, so forwarding strips exactly that header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialSource {
    /// `Authorization: Bearer <key>`.
    Authorization,
    /// `X-Api-Key: <key>`.
    ApiKeyHeader,
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The partner the credential names.
    pub partner: Arc<Partner>,
    /// The id of the key that was presented (never the key itself); for a token, its `kid`.
    pub key_id: Arc<str>,
    /// Where the credential was found.
    pub source: CredentialSource,
    /// For a token: who issued it and what it may narrow.
    pub token: Option<TokenFacts>,
}

/// What a verified token adds to a principal.
#[derive(Debug, Clone)]
pub struct TokenFacts {
    /// `iss`.
    pub issuer: Arc<str>,
    /// `kid`.
    pub kid: Option<Arc<str>>,
    /// `scope`: the permissions the token allows, if it says (it never widens).
    pub scope: Option<Arc<std::collections::HashSet<String>>>,
}

// === impl CredentialSource ===

impl CredentialSource {
    /// The audit name of the credential kind (API keys; tokens are `jwt`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Authorization => "api_key_bearer",
            Self::ApiKeyHeader => "api_key_header",
        }
    }
}
