//! Partner JWTs (valid, expired, not yet valid, wrong aud/iss, alg none, HS/RS confusion,
//! unknown kid, unknown partner, scope narrowing, JWKS rotation through reload) and signed
//! `X-Kwanus-Identity` assertions verified by the upstream against the gateway's JWKS.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::support::*;
use base64::Engine as _;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rcgen::KeyPair;

const ISS: &str = "https://idp.test";
const AUD: &str = "kwanus-gateway";

/// A signing key of the test identity provider.
struct Key {
    enc: EncodingKey,
    alg: Algorithm,
    kid: String,
    jwk: Jwk,
    public_pem: String,
}

fn key(alg: Algorithm, kid: &str) -> Key {
    let pair = match alg {
        Algorithm::RS256 => {
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        }
        Algorithm::ES256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
        _ => KeyPair::generate_for(&rcgen::PKCS_ED25519),
    }
    .expect("key pair");
    let pem = pair.serialize_pem();
    let enc = match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(pem.as_bytes()),
        Algorithm::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()),
        _ => EncodingKey::from_ed_pem(pem.as_bytes()),
    }
    .expect("encoding key");
    let mut jwk = Jwk::from_encoding_key(&enc, alg).expect("jwk");
    jwk.common.key_id = Some(kid.to_owned());
    Key {
        enc,
        alg,
        kid: kid.to_owned(),
        jwk,
        public_pem: pair.public_key_pem(),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("time")
        .as_secs()
}

fn token(k: &Key, claims: &serde_json::Value) -> String {
    let mut header = Header::new(k.alg);
    header.kid = Some(k.kid.clone());
    jsonwebtoken::encode(&header, claims, &k.enc).expect("sign")
}

fn claims(sub: &str) -> serde_json::Value {
    serde_json::json!({ "iss": ISS, "aud": AUD, "sub": sub, "exp": now() + 120, "iat": now() })
}

fn write_jwks(path: &Path, keys: &[&Key]) {
    let set = JwkSet {
        keys: keys.iter().map(|k| k.jwk.clone()).collect(),
    };
    std::fs::write(path, serde_json::to_string(&set).expect("jwks")).expect("write jwks");
}

/// The fixture with an issuer (ES256 + RS256 from `jwks`), globex allowed to use it, and
/// identity assertions signed with a fresh Ed25519 key.
fn config(dir: &Path) -> String {
    let identity = dir.join("identity.pem");
    let pair = KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("ed25519");
    std::fs::write(&identity, pair.serialize_pem()).expect("write identity key");
    let with_issuer = FIXTURE.replacen(
        "permissions = [\"reports:read\", \"workflows:trigger\"]\nkeys = [{ id = \"globex-1\"",
        &format!("jwt_issuers = [\"{ISS}\"]\npermissions = [\"reports:read\", \"workflows:trigger\"]\nkeys = [{{ id = \"globex-1\""),
        1,
    );
    assert_ne!(with_issuer, FIXTURE, "fixture shape changed");
    format!(
        "{with_issuer}\n[admin]\nlisten = \"127.0.0.1:0\"\n\n[[auth.jwt]]\nissuer = \"{ISS}\"\naudiences = [\"{AUD}\"]\nalgorithms = [\"ES256\", \"RS256\"]\njwks_file = {:?}\nleeway = \"5s\"\n\n[identity]\nsigning_key = {:?}\nttl = \"30s\"\n",
        dir.join("jwks.json").display().to_string(),
        identity.display().to_string()
    )
}

async fn with_token(gw: &Gateway, method: &str, path: &str, token: &str) -> Reply {
    gw.send(
        method,
        path,
        &[
            ("authorization", &format!("Bearer {token}")),
            ("idempotency-key", "k"),
        ],
        "",
    )
    .await
}

#[tokio::test]
async fn a_valid_token_is_served_and_the_upstream_can_verify_who_was_authorised() {
    let dir = temp_dir("valid");
    let es = key(Algorithm::ES256, "es-1");
    let rs = key(Algorithm::RS256, "rs-1");
    write_jwks(&dir.join("jwks.json"), &[&es, &rs]);
    let gw = Gateway::start_with(&config(&dir)).await;

    for k in [&es, &rs] {
        let r = with_token(&gw, "GET", "/v1/reports/7", &token(k, &claims("globex"))).await;
        let reason = gw.outcomes.all().last().map(|o| o.reason);
        assert_eq!(r.status, 200, "{:?}: {reason:?}", k.alg);
    }
    let seen = gw.upstream.last();
    assert!(
        seen.headers.get("authorization").is_none(),
        "the token is not forwarded"
    );
    assert_eq!(seen.headers["x-kwanus-partner"], "globex");
    let assertion = seen.headers["x-kwanus-identity"]
        .to_str()
        .expect("ascii")
        .to_owned();

    // The upstream's check: the gateway's JWKS, its issuer, its own name as audience.
    let jwks: JwkSet = gw
        .admin("GET", "/.well-known/jwks.json", None)
        .await
        .json_as();
    let header = jsonwebtoken::decode_header(&assertion).expect("header");
    let jwk = jwks
        .find(header.kid.as_deref().expect("kid"))
        .expect("key in JWKS");
    let mut v = Validation::new(header.alg);
    v.set_issuer(&["kwanus-gateway"]);
    v.set_audience(&["api"]);
    let data = jsonwebtoken::decode::<serde_json::Value>(
        &assertion,
        &DecodingKey::from_jwk(jwk).expect("key"),
        &v,
    )
    .expect("the identity assertion verifies");
    let c = data.claims;
    assert_eq!(c["sub"], "globex");
    assert_eq!(c["tier"], 2);
    assert_eq!(c["stage"], "active");
    assert_eq!(c["permission"], "reports:read");
    assert_eq!(c["route"], "get-report");
    assert_eq!(
        c["jti"],
        seen.headers["x-request-id"].to_str().expect("ascii")
    );
    let ttl = c["exp"].as_u64().expect("exp") - c["iat"].as_u64().expect("iat");
    assert!(ttl <= 60 && ttl == 30, "{ttl}");

    // A client cannot bring its own assertion.
    let r = gw
        .send(
            "GET",
            "/v1/reports/1",
            &[("x-api-key", ACME), ("x-kwanus-identity", "forged")],
            "",
        )
        .await;
    assert_eq!(r.status, 200);
    assert_ne!(gw.upstream.last().headers["x-kwanus-identity"], "forged");

    // The outcome (and so the audit record) names the credential kind, issuer and kid.
    let o = &gw.outcomes.all()[0];
    assert_eq!(o.credential.map(|c| c.as_str()), Some("jwt"));
    assert_eq!(o.jwt_issuer.as_deref(), Some(ISS));
    assert_eq!(o.jwt_kid.as_deref(), Some("es-1"));
}

#[tokio::test]
async fn bad_tokens_are_401_with_precise_reasons() {
    let dir = temp_dir("bad");
    let es = key(Algorithm::ES256, "es-1");
    let rs = key(Algorithm::RS256, "rs-1");
    let stranger = key(Algorithm::ES256, "es-1");
    let unknown_kid = key(Algorithm::ES256, "es-9");
    write_jwks(&dir.join("jwks.json"), &[&es, &rs]);
    let gw = Gateway::start_with(&config(&dir)).await;

    let mut expired = claims("globex");
    expired["exp"] = (now() - 120).into();
    let mut early = claims("globex");
    early["nbf"] = (now() + 300).into();
    let mut wrong_aud = claims("globex");
    wrong_aud["aud"] = "someone-else".into();
    let mut wrong_iss = claims("globex");
    wrong_iss["iss"] = "https://evil.test".into();
    let mut no_exp = claims("globex");
    no_exp.as_object_mut().expect("object").remove("exp");
    let b64 = |v: &serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let alg_none = format!(
        "{}.{}.",
        b64(&serde_json::json!({"alg": "none", "typ": "JWT"})),
        b64(&claims("globex"))
    );
    // HS256 "signed" with the RSA public key, against an issuer pinned to ES256/RS256.
    let mut confusion_header = Header::new(Algorithm::HS256);
    confusion_header.kid = Some("rs-1".into());
    let confusion = jsonwebtoken::encode(
        &confusion_header,
        &claims("globex"),
        &EncodingKey::from_secret(rs.public_pem.as_bytes()),
    )
    .expect("hs256");

    let cases = [
        (token(&es, &expired), "jwt_expired"),
        (token(&es, &early), "jwt_not_yet_valid"),
        (token(&es, &wrong_aud), "jwt_wrong_audience"),
        (token(&es, &wrong_iss), "jwt_unknown_issuer"),
        (token(&es, &no_exp), "jwt_missing_claim"),
        (alg_none, "jwt_alg_none"),
        (confusion, "jwt_algorithm_not_allowed"),
        (token(&unknown_kid, &claims("globex")), "jwt_unknown_kid"),
        (token(&stranger, &claims("globex")), "jwt_bad_signature"),
        (token(&es, &claims("nobody")), "jwt_unknown_partner"),
        (token(&es, &claims("acme")), "jwt_issuer_not_allowed"),
        ("eyJhbGciOi.broken.token".to_owned(), "jwt_malformed"),
    ];
    let mut bodies = Vec::new();
    for (t, _) in &cases {
        let r = with_token(&gw, "GET", "/v1/reports/1", t).await;
        assert_eq!(r.status, 401, "{r:?}");
        let mut j = r.json();
        j["request_id"] = serde_json::Value::Null;
        bodies.push(j);
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "one identical 401 body"
    );
    let reasons: Vec<_> = gw.outcomes.all().iter().map(|o| o.reason).collect();
    let want: Vec<_> = cases.iter().map(|c| c.1).collect();
    assert_eq!(reasons, want);
    assert!(gw.upstream.seen().is_empty());
    // The partner is named once the token verified that far.
    assert_eq!(gw.outcomes.all()[10].partner.as_deref(), Some("acme"));
}

#[tokio::test]
async fn a_token_scope_narrows_but_never_widens() {
    let dir = temp_dir("scope");
    let es = key(Algorithm::ES256, "es-1");
    write_jwks(&dir.join("jwks.json"), &[&es]);
    let gw = Gateway::start_with(&config(&dir)).await;
    let mut narrow = claims("globex");
    narrow["scope"] = "reports:read".into();
    let t = token(&es, &narrow);
    assert_eq!(
        with_token(&gw, "GET", "/v1/reports/1", &t).await.status,
        200
    );
    let r = with_token(&gw, "POST", "/v1/workflows/nightly/runs", &t).await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (403, "permission_denied".into())
    );
    assert_eq!(gw.outcomes.all()[1].reason, "permission_not_in_token_scope");
    // Without a scope the configured permissions apply.
    let r = with_token(
        &gw,
        "POST",
        "/v1/workflows/nightly/runs",
        &token(&es, &claims("globex")),
    )
    .await;
    assert_eq!(r.status, 200);
    // A scope naming a permission the partner does not hold grants nothing.
    let mut wide = claims("globex");
    wide["scope"] = "reports:read reports:publish".into();
    let r = with_token(&gw, "PUT", "/v1/reports/1", &token(&es, &wide)).await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (403, "permission_denied".into())
    );
    assert_eq!(gw.outcomes.all()[3].reason, "permission_not_held");
}

#[tokio::test]
async fn jwks_rotation_through_reload() {
    let dir = temp_dir("rotate");
    let old = key(Algorithm::ES256, "es-1");
    let new = key(Algorithm::ES256, "es-2");
    write_jwks(&dir.join("jwks.json"), &[&old]);
    let path = dir.join("gateway.toml");
    let gw = Gateway::start_file(&config(&dir), &path, false).await;
    assert_eq!(
        with_token(&gw, "GET", "/v1/reports/1", &token(&new, &claims("globex")))
            .await
            .status,
        401
    );
    write_jwks(&dir.join("jwks.json"), &[&old, &new]);
    assert!(
        gw.app
            .reload(kwanus_gateway::audit::ConfigTrigger::Admin)
            .result
            .is_ok()
    );
    assert_eq!(
        with_token(&gw, "GET", "/v1/reports/1", &token(&new, &claims("globex")))
            .await
            .status,
        200
    );
    assert_eq!(
        with_token(&gw, "GET", "/v1/reports/1", &token(&old, &claims("globex")))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_scope_array_narrows_and_any_other_scope_type_is_refused() {
    let dir = temp_dir("scope-types");
    let es = key(Algorithm::ES256, "es-1");
    write_jwks(&dir.join("jwks.json"), &[&es]);
    let gw = Gateway::start_with(&config(&dir)).await;
    // An array of strings narrows exactly like the space-separated string.
    for scope in [
        serde_json::json!(["reports:read"]),
        serde_json::json!("reports:read"),
    ] {
        let mut narrow = claims("globex");
        narrow["scope"] = scope.clone();
        let t = token(&es, &narrow);
        assert_eq!(
            with_token(&gw, "GET", "/v1/reports/1", &t).await.status,
            200
        );
        let r = with_token(&gw, "POST", "/v1/workflows/nightly/runs", &t).await;
        assert_eq!(
            r.status, 403,
            "{scope}: never widened to the partner's permissions"
        );
        assert_eq!(
            gw.outcomes.all().last().map(|o| o.reason),
            Some("permission_not_in_token_scope")
        );
    }
    // `scp` is read as well.
    let mut scp = claims("globex");
    scp["scp"] = serde_json::json!(["reports:read"]);
    let r = with_token(&gw, "POST", "/v1/workflows/nightly/runs", &token(&es, &scp)).await;
    assert_eq!(r.status, 403);
    // Any other shape is a malformed credential, never "no scope".
    for bad in [
        serde_json::json!({"reports:read": true}),
        serde_json::json!(7),
        serde_json::json!(["reports:read", 7]),
        serde_json::json!(null),
        serde_json::json!(true),
    ] {
        for claim in ["scope", "scp"] {
            let mut c = claims("globex");
            c[claim] = bad.clone();
            let r = with_token(&gw, "GET", "/v1/reports/1", &token(&es, &c)).await;
            assert_eq!(
                (r.status.as_u16(), r.code()),
                (401, "invalid_credentials".into()),
                "{claim} = {bad}"
            );
            assert_eq!(
                gw.outcomes.all().last().map(|o| o.reason),
                Some("malformed_credential"),
                "{claim} = {bad}"
            );
        }
    }
    assert!(
        gw.upstream
            .seen()
            .iter()
            .all(|s| s.target == "/v1/reports/1"),
        "nothing but the permitted reads was forwarded"
    );
}
