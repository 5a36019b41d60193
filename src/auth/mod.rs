//! Authentication: which partner, if any, a request's credential names.
//!
//! Knows nothing of routes, bodies, audit or metrics; every failure maps to one client-visible
//! `401 invalid_credentials` while the precise reason goes to the audit trail.

mod api_key;
mod jwt;
mod principal;

pub use api_key::{KeyDigest, KeyEntry, KeyStore, PresentedKey, digest};
pub use jwt::{Issuer, Issuers, JwtError, Verified, looks_like_jwt};
pub use principal::{CredentialSource, Partner, Principal, TokenFacts, header_value};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use http::HeaderMap;
use http::header::AUTHORIZATION;

/// The header that may carry a key instead of `Authorization`.
pub const API_KEY_HEADER: http::HeaderName = http::HeaderName::from_static("x-api-key");

/// Why authentication failed; all of these answer the same `401`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No credential at all.
    #[error("no credential")]
    Missing,
    /// `Authorization` with a scheme other than `Bearer`.
    #[error("unsupported authorization scheme")]
    UnsupportedScheme,
    /// More than one credential, or two that differ.
    #[error("more than one credential")]
    Ambiguous,
    /// A credential that is not even a well-formed key.
    #[error("malformed credential")]
    Malformed,
    /// A key no partner holds.
    #[error("unknown key")]
    Unknown,
    /// A known key past its `expires`.
    #[error("expired key")]
    Expired {
        /// The key's partner.
        partner: Arc<str>,
        /// The key's id.
        key_id: Arc<str>,
    },
    /// A known key marked `revoked`.
    #[error("revoked key")]
    Revoked {
        /// The key's partner.
        partner: Arc<str>,
        /// The key's id.
        key_id: Arc<str>,
    },
    /// A valid key over a connection without the partner's bound client certificate.
    #[error("client certificate does not match the key's partner")]
    MtlsMismatch {
        /// The key's partner.
        partner: Arc<str>,
        /// The key's id.
        key_id: Arc<str>,
    },
    /// A bearer token that did not verify.
    #[error("token refused: {error}")]
    Jwt {
        /// Why.
        error: JwtError,
        /// The partner the token named, when that far was verified.
        partner: Option<Arc<str>>,
    },
}

/// Everything authentication looks credentials up in (one snapshot's worth).
#[derive(Debug, Clone, Copy)]
pub struct Credentials<'a> {
    /// API keys by digest.
    pub keys: &'a KeyStore,
    /// Token issuers.
    pub issuers: &'a Issuers,
    /// Partners by id.
    pub partners: &'a HashMap<Arc<str>, Arc<Partner>, crate::model::FastHash>,
}

// === impl AuthError ===

impl AuthError {
    /// The precise reason kept in the audit record.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Missing => "key_missing",
            Self::UnsupportedScheme => "unsupported_scheme",
            Self::Ambiguous => "ambiguous_credentials",
            Self::Malformed => "malformed_credential",
            Self::Unknown => "key_unknown",
            Self::Expired { .. } => "key_expired",
            Self::Revoked { .. } => "key_revoked",
            Self::MtlsMismatch { .. } => "mtls_mismatch",
            Self::Jwt { error, .. } => error.reason(),
        }
    }

    /// The partner and key id, where the key was known.
    pub fn known_key(&self) -> Option<(&Arc<str>, &Arc<str>)> {
        match self {
            Self::Expired { partner, key_id }
            | Self::Revoked { partner, key_id }
            | Self::MtlsMismatch { partner, key_id } => Some((partner, key_id)),
            Self::Missing
            | Self::UnsupportedScheme
            | Self::Ambiguous
            | Self::Malformed
            | Self::Unknown
            | Self::Jwt { .. } => None,
        }
    }

    /// The partner named by a credential that was recognised but refused, if any.
    pub fn partner(&self) -> Option<&Arc<str>> {
        match self {
            Self::Jwt { partner, .. } => partner.as_ref(),
            other => other.known_key().map(|(p, _)| p),
        }
    }
}

/// Finds the partner named by the request's API key or bearer token at instant `now`, over a
/// connection that presented the client certificate `client_cert` (if any).
pub fn authenticate(
    creds: Credentials<'_>,
    headers: &HeaderMap,
    now: SystemTime,
    client_cert: Option<&crate::model::CertFingerprint>,
) -> Result<Principal, AuthError> {
    let (key, source) = extract(headers)?;
    if source == CredentialSource::Authorization
        && !creds.issuers.is_empty()
        && looks_like_jwt(key.0)
    {
        return authenticate_token(creds, key.0, client_cert);
    }
    let entry = creds.keys.find(&key).ok_or(AuthError::Unknown)?;
    if entry.revoked {
        return Err(AuthError::Revoked {
            partner: entry.partner.id.clone(),
            key_id: entry.key_id.clone(),
        });
    }
    if entry.expires.is_some_and(|t| now >= t) {
        return Err(AuthError::Expired {
            partner: entry.partner.id.clone(),
            key_id: entry.key_id.clone(),
        });
    }
    check_binding(&entry.partner, &entry.key_id, client_cert)?;
    Ok(Principal {
        partner: entry.partner.clone(),
        key_id: entry.key_id.clone(),
        source,
        token: None,
    })
}

/// A bearer token: verified by its issuer's rules, then mapped to a configured partner that
/// may use that issuer.
fn authenticate_token(
    creds: Credentials<'_>,
    token: &str,
    client_cert: Option<&crate::model::CertFingerprint>,
) -> Result<Principal, AuthError> {
    let v = creds
        .issuers
        .verify(token)
        .map_err(|error| AuthError::Jwt {
            error,
            partner: None,
        })?;
    let Some(partner) = creds.partners.get(v.partner.as_str()) else {
        return Err(AuthError::Jwt {
            error: JwtError::UnknownPartner,
            partner: None,
        });
    };
    if !partner.jwt_issuers.contains(&v.issuer) {
        return Err(AuthError::Jwt {
            error: JwtError::IssuerNotAllowed,
            partner: Some(partner.id.clone()),
        });
    }
    let key_id: Arc<str> = match &v.kid {
        Some(kid) => format!("jwt:{kid}").into(),
        None => "jwt".into(),
    };
    check_binding(partner, &key_id, client_cert)?;
    Ok(Principal {
        partner: partner.clone(),
        key_id,
        source: CredentialSource::Authorization,
        token: Some(TokenFacts {
            issuer: v.issuer,
            kid: v.kid,
            scope: v.scope.map(Arc::new),
        }),
    })
}

/// A bound partner needs its certificate; an unbound one may use any connection. A partner
/// with bound certificates that does not require them still refuses a different one.
fn check_binding(
    partner: &Partner,
    key_id: &Arc<str>,
    client_cert: Option<&crate::model::CertFingerprint>,
) -> Result<(), AuthError> {
    let bound = match client_cert {
        Some(c) if !partner.client_certs.is_empty() => partner.client_certs.contains(c),
        Some(_) | None => !partner.require_mtls,
    };
    if bound {
        Ok(())
    } else {
        Err(AuthError::MtlsMismatch {
            partner: partner.id.clone(),
            key_id: key_id.clone(),
        })
    }
}

/// Takes the one key a request presents, from `Authorization: Bearer` or `X-Api-Key`.
fn extract(headers: &HeaderMap) -> Result<(PresentedKey<'_>, CredentialSource), AuthError> {
    let mut bearer = None;
    let mut auths = headers.get_all(AUTHORIZATION).iter();
    if let Some(value) = auths.next() {
        if auths.next().is_some() {
            return Err(AuthError::Ambiguous);
        }
        let value = value.to_str().map_err(|_| AuthError::Malformed)?;
        let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::UnsupportedScheme);
        }
        bearer = Some(well_formed(rest.trim())?);
    }
    let mut api = None;
    let mut apis = headers.get_all(API_KEY_HEADER).iter();
    if let Some(value) = apis.next() {
        if apis.next().is_some() {
            return Err(AuthError::Ambiguous);
        }
        let value = value.to_str().map_err(|_| AuthError::Malformed)?;
        api = Some(well_formed(value.trim())?);
    }
    match (bearer, api) {
        (None, None) => Err(AuthError::Missing),
        (Some(b), None) => Ok((PresentedKey(b), CredentialSource::Authorization)),
        (None, Some(a)) => Ok((PresentedKey(a), CredentialSource::ApiKeyHeader)),
        (Some(_), Some(_)) => Err(AuthError::Ambiguous),
    }
}

/// A credential is printable ASCII without spaces, at most 8 KiB (room for RSA-signed tokens).
fn well_formed(key: &str) -> Result<&str, AuthError> {
    if key.is_empty() || key.len() > 8192 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(AuthError::Malformed);
    }
    Ok(key)
}
