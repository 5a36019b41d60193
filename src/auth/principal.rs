//! `Partner` and `Principal`: the only facts about the caller that policy may see.

use std::collections::HashSet;
use std::sync::Arc;

use crate::policy::{Stage, Tier};

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
    pub permissions: HashSet<Arc<str>>,
    /// Client certificates its keys are bound to.
    pub client_certs: Vec<crate::tls::CertFingerprint>,
    /// Its keys count only over a connection with one of `client_certs`.
    pub require_mtls: bool,
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
    /// The partner the key belongs to.
    pub partner: Arc<Partner>,
    /// The id of the key that was presented (never the key itself).
    pub key_id: Arc<str>,
    /// Where the key was found.
    pub source: CredentialSource,
}

// === impl CredentialSource ===

impl CredentialSource {
    /// The audit name of the credential kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Authorization => "api_key_bearer",
            Self::ApiKeyHeader => "api_key_header",
        }
    }
}
