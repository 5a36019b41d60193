//! `[[auth.jwt]]`: token issuers with pinned algorithms and their keys.

use super::*;

/// The longest clock skew allowed for `exp` and `nbf`.
const MAX_LEEWAY: std::time::Duration = std::time::Duration::from_secs(300);

/// `[[auth.jwt]]`: pinned algorithms, explicit audiences and leeway, keys from a JWKS file (or a
/// secret for HS256 only).
pub(super) fn compile_issuers(p: &mut Problems, auth: file::AuthSection) -> Issuers {
    use jsonwebtoken::Algorithm;
    let file::AuthSection { jwt } = auth;
    let mut out = Issuers::default();
    let mut seen = HashMap::new();
    for (i, j) in jwt.into_iter().enumerate() {
        let place = format!("auth.jwt[{i}]");
        let file::JwtIssuer {
            issuer,
            audiences,
            algorithms,
            jwks_file,
            secret,
            partner_claim,
            leeway,
        } = j;
        let mut ok = p.unique(&mut seen, "issuer", &issuer, format!("{place}.issuer"));
        if issuer.is_empty() {
            p.bad(format!("{place}.issuer"), &issuer, "must not be empty");
            ok = false;
        }
        if audiences.is_empty() {
            p.bad(
                format!("{place}.audiences"),
                "[]",
                "list the audiences tokens must name",
            );
            ok = false;
        }
        let mut algs = Vec::new();
        for (k, a) in algorithms.iter().enumerate() {
            match a.as_str() {
                "RS256" => algs.push(Algorithm::RS256),
                "ES256" => algs.push(Algorithm::ES256),
                "EdDSA" => algs.push(Algorithm::EdDSA),
                "HS256" => algs.push(Algorithm::HS256),
                other => {
                    p.push(
                        format!("{place}.algorithms[{k}]"),
                        ProblemKind::NotOneOf {
                            value: other.to_owned(),
                            expected: "\"RS256\", \"ES256\", \"EdDSA\", \"HS256\"",
                        },
                    );
                    ok = false;
                }
            }
        }
        if algorithms.is_empty() {
            p.bad(
                format!("{place}.algorithms"),
                "[]",
                "pin at least one algorithm",
            );
            ok = false;
        }
        let hs = algs.contains(&Algorithm::HS256);
        if hs && algs.len() > 1 {
            p.bad(
                format!("{place}.algorithms"),
                &algorithms.join(", "),
                "HS256 cannot be mixed with public-key algorithms (key confusion)",
            );
            ok = false;
        }
        let leeway = p
            .duration_or_zero(&format!("{place}.leeway"), &leeway)
            .filter(|l| {
                let ok = *l <= MAX_LEEWAY;
                if !ok {
                    p.bad(
                        format!("{place}.leeway"),
                        &format!("{l:?}"),
                        "at most 5 minutes: a longer leeway accepts expired tokens",
                    );
                }
                ok
            });
        let keys = match (hs, secret, jwks_file) {
            (true, Some(secret), None) if secret.len() >= 32 => {
                let mut m = HashMap::new();
                m.insert(
                    None,
                    jsonwebtoken::DecodingKey::from_secret(secret.as_bytes()),
                );
                Some(m)
            }
            (true, Some(_), None) => {
                p.bad(
                    format!("{place}.secret"),
                    "…",
                    "an HS256 secret needs at least 32 bytes",
                );
                None
            }
            (false, None, Some(path)) => load_jwks(p, &format!("{place}.jwks_file"), &path),
            (true, _, _) => {
                p.bad(
                    format!("{place}.secret"),
                    "",
                    "HS256 needs `secret` and no `jwks_file`",
                );
                None
            }
            (false, _, _) => {
                p.bad(
                    format!("{place}.jwks_file"),
                    "",
                    "public-key algorithms need `jwks_file` and no `secret`",
                );
                None
            }
        };
        let (Some(keys), Some(leeway), true) = (keys, leeway, ok) else {
            continue;
        };
        let mut validation = jsonwebtoken::Validation::new(algs[0]);
        validation.algorithms = algs.clone();
        validation.set_issuer(&[issuer.as_str()]);
        validation.set_audience(&audiences);
        validation.leeway = leeway.as_secs();
        validation.validate_nbf = true;
        validation.validate_exp = true;
        validation.required_spec_claims = ["exp", "iss", "aud"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        // Duplicates were reported above.
        let _ = out.insert(crate::auth::Issuer {
            issuer: issuer.into(),
            algorithms: algs,
            keys,
            partner_claim,
            validation,
        });
    }
    out
}

/// Keys of a JWKS file, by `kid`.
pub(super) fn load_jwks(
    p: &mut Problems,
    place: &str,
    path: &str,
) -> Option<HashMap<Option<String>, jsonwebtoken::DecodingKey>> {
    let text = match crate::files::read_to_string(std::path::Path::new(path)) {
        Ok(t) => {
            p.read(path, t.as_bytes());
            t
        }
        Err(e) => {
            p.bad(place, path, format!("cannot read it: {e}"));
            return None;
        }
    };
    let set: jsonwebtoken::jwk::JwkSet = match serde_json::from_str(&text) {
        Ok(s) => s,
        Err(e) => {
            p.bad(place, path, format!("not a JWKS document: {e}"));
            return None;
        }
    };
    let mut keys = HashMap::new();
    for (i, jwk) in set.keys.iter().enumerate() {
        match jsonwebtoken::DecodingKey::from_jwk(jwk) {
            Ok(k) => {
                keys.insert(jwk.common.key_id.clone(), k);
            }
            Err(e) => p.bad(place, path, format!("key {i} is not usable: {e}")),
        }
    }
    if keys.is_empty() {
        p.bad(place, path, "the JWKS holds no usable key");
        return None;
    }
    Some(keys)
}
