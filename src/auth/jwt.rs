//! Partner JWTs: verified with a `Validation` built once per snapshot (algorithms pinned in the
//! config, never taken from the token; `iss`, `aud` and leeway explicit; `exp` required).
//!
//! Every failure has a precise audit reason; the client sees the same 401 as for a bad key.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use serde::Deserialize;

/// One configured token issuer.
pub struct Issuer {
    /// The `iss` value.
    pub issuer: Arc<str>,
    /// Algorithms accepted from this issuer.
    pub algorithms: Vec<Algorithm>,
    /// Keys by `kid` (`None`: a key without id, used only when the token has no `kid`).
    pub keys: HashMap<Option<String>, DecodingKey>,
    /// The claim that names the partner.
    pub partner_claim: String,
    /// `aud`, `iss`, leeway, `exp` and `nbf` rules.
    pub validation: Validation,
}

/// All issuers of a snapshot, by `iss`.
#[derive(Default)]
pub struct Issuers {
    by_issuer: HashMap<String, Issuer>,
}

/// A token that verified: who it names and what it may narrow.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The partner id from the partner claim.
    pub partner: String,
    /// The issuer.
    pub issuer: Arc<str>,
    /// The key id used.
    pub kid: Option<Arc<str>>,
    /// The `scope` (and `scp`) claim, if present: permissions it names (it can only narrow).
    pub scope: Option<HashSet<String>>,
}

/// Why a token was refused; the audit reason is `jwt_…`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not three base64url parts with JSON header and claims.
    #[error("malformed token")]
    Malformed,
    /// `alg: none`.
    #[error("unsigned token (alg none)")]
    AlgNone,
    /// `iss` names no configured issuer.
    #[error("unknown issuer")]
    UnknownIssuer,
    /// The header's algorithm is not pinned for the issuer (e.g. HS256 against an RSA issuer).
    #[error("algorithm not allowed for this issuer")]
    AlgorithmNotAllowed,
    /// `kid` names no key of the issuer.
    #[error("unknown key id")]
    UnknownKid,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// `exp` is past.
    #[error("expired")]
    Expired,
    /// `nbf` is in the future.
    #[error("not yet valid")]
    NotYetValid,
    /// `aud` is not one of the configured audiences.
    #[error("wrong audience")]
    WrongAudience,
    /// `exp` (or another required claim) is missing.
    #[error("missing required claim")]
    MissingClaim,
    /// The partner claim is missing or names no configured partner.
    #[error("unknown partner")]
    UnknownPartner,
    /// The partner may not use this issuer (`jwt_issuers`).
    #[error("issuer not allowed for this partner")]
    IssuerNotAllowed,
    /// `scope` or `scp` is neither a space-separated string nor an array of strings.
    #[error("scope claim of the wrong type")]
    MalformedScope,
    /// Anything else the verifier refused.
    #[error("invalid token")]
    Invalid,
}

#[derive(Deserialize)]
struct Peek {
    iss: Option<String>,
}

#[derive(Deserialize)]
struct RawHeader {
    alg: Option<String>,
}

// === impl Issuers ===

impl Issuers {
    /// Adds an issuer; returns false (and keeps the first) if the `iss` is already configured.
    pub fn insert(&mut self, issuer: Issuer) -> bool {
        if self.by_issuer.contains_key(&*issuer.issuer) {
            return false;
        }
        self.by_issuer.insert(issuer.issuer.to_string(), issuer);
        true
    }

    /// Whether any issuer is configured.
    pub fn is_empty(&self) -> bool {
        self.by_issuer.is_empty()
    }

    /// Whether `iss` is configured.
    pub fn contains(&self, iss: &str) -> bool {
        self.by_issuer.contains_key(iss)
    }

    /// How many issuers are configured.
    pub fn len(&self) -> usize {
        self.by_issuer.len()
    }

    /// Verifies a token: shape, `alg` (pinned), issuer, `kid`, signature, `exp`/`nbf` with
    /// leeway, `aud`, and the partner claim.
    pub fn verify(&self, token: &str) -> Result<Verified, JwtError> {
        let header_b64 = token.split('.').next().ok_or(JwtError::Malformed)?;
        let raw: RawHeader = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header_b64)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(JwtError::Malformed)?;
        if raw
            .alg
            .as_deref()
            .is_some_and(|a| a.eq_ignore_ascii_case("none"))
        {
            return Err(JwtError::AlgNone);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)?;
        // The issuer is read before verification only to choose its keys and rules.
        let peek: Peek = jsonwebtoken::dangerous::insecure_decode_claims(token)
            .map_err(|_| JwtError::Malformed)?;
        let issuer = peek
            .iss
            .as_deref()
            .and_then(|iss| self.by_issuer.get(iss))
            .ok_or(JwtError::UnknownIssuer)?;
        if !issuer.algorithms.contains(&header.alg) {
            return Err(JwtError::AlgorithmNotAllowed);
        }
        let key = issuer.keys.get(&header.kid).ok_or(JwtError::UnknownKid)?;
        let mut validation = issuer.validation.clone();
        validation.algorithms = vec![header.alg];
        let data = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            token,
            key,
            &validation,
        )
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => JwtError::BadSignature,
            ErrorKind::ExpiredSignature => JwtError::Expired,
            ErrorKind::ImmatureSignature => JwtError::NotYetValid,
            ErrorKind::InvalidAudience => JwtError::WrongAudience,
            ErrorKind::MissingRequiredClaim(_) => JwtError::MissingClaim,
            ErrorKind::InvalidAlgorithm => JwtError::AlgorithmNotAllowed,
            _ => JwtError::Invalid,
        })?;
        let partner = data
            .claims
            .get(&issuer.partner_claim)
            .and_then(|v| v.as_str())
            .ok_or(JwtError::UnknownPartner)?
            .to_owned();
        let scope = scope_claim(&data.claims)?;
        Ok(Verified {
            partner,
            issuer: issuer.issuer.clone(),
            kid: header.kid.map(Into::into),
            scope,
        })
    }
}

impl std::fmt::Debug for Issuers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuers")
            .field("issuers", &self.by_issuer.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The permissions `scope` and `scp` name: a space-separated string (RFC 9068, RFC 8693) or
/// an array of strings; with both, only what both name. Any other type is refused, never read
/// as "no scope", which would widen the token to all of the partner's permissions.
fn scope_claim(
    claims: &serde_json::Map<String, serde_json::Value>,
) -> Result<Option<HashSet<String>>, JwtError> {
    use serde_json::Value;
    let mut scope: Option<HashSet<String>> = None;
    for name in ["scope", "scp"] {
        let Some(value) = claims.get(name) else {
            continue;
        };
        let named: HashSet<String> = match value {
            Value::String(s) => s.split_whitespace().map(str::to_owned).collect(),
            Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or(JwtError::MalformedScope)?,
            _ => return Err(JwtError::MalformedScope),
        };
        scope = Some(match scope {
            None => named,
            Some(before) => before.intersection(&named).cloned().collect(),
        });
    }
    Ok(scope)
}

// === impl JwtError ===

impl JwtError {
    /// The precise audit reason.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Malformed => "jwt_malformed",
            Self::AlgNone => "jwt_alg_none",
            Self::UnknownIssuer => "jwt_unknown_issuer",
            Self::AlgorithmNotAllowed => "jwt_algorithm_not_allowed",
            Self::UnknownKid => "jwt_unknown_kid",
            Self::BadSignature => "jwt_bad_signature",
            Self::Expired => "jwt_expired",
            Self::NotYetValid => "jwt_not_yet_valid",
            Self::WrongAudience => "jwt_wrong_audience",
            Self::MissingClaim => "jwt_missing_claim",
            Self::UnknownPartner => "jwt_unknown_partner",
            Self::IssuerNotAllowed => "jwt_issuer_not_allowed",
            Self::MalformedScope => "malformed_credential",
            Self::Invalid => "jwt_invalid",
        }
    }
}

/// Whether a bearer value has the shape of a JWT (three base64url parts, a JSON header).
pub fn looks_like_jwt(value: &str) -> bool {
    value.starts_with("eyJ") && value.bytes().filter(|b| *b == b'.').count() == 2
}
