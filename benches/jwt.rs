//! What does token work cost per request: verifying a partner's ES256 / RS256 JWT, and
//! signing the EdDSA `X-Kwanus-Identity` assertion — against the SHA-256 of an API key?
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};

use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use kwanus_gateway::config::{self, Overrides};
use kwanus_gateway::identity::{IdentityClaims, IdentitySigner};
use kwanus_gateway::{auth, demo};

fn keyed(alg: Algorithm, kid: &str) -> (EncodingKey, Jwk) {
    let pair = match alg {
        Algorithm::RS256 => {
            rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        }
        _ => rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
    }
    .expect("key");
    let pem = pair.serialize_pem();
    let enc = match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(pem.as_bytes()),
        _ => EncodingKey::from_ec_pem(pem.as_bytes()),
    }
    .expect("encoding key");
    let mut jwk = Jwk::from_encoding_key(&enc, alg).expect("jwk");
    jwk.common.key_id = Some(kid.into());
    (enc, jwk)
}

fn tokens(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("kwanus-bench-jwt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (es, es_jwk) = keyed(Algorithm::ES256, "es");
    let (rs, rs_jwk) = keyed(Algorithm::RS256, "rs");
    let jwks = dir.join("jwks.json");
    std::fs::write(
        &jwks,
        serde_json::to_string(&JwkSet {
            keys: vec![es_jwk, rs_jwk],
        })
        .expect("json"),
    )
    .expect("write");
    let identity = dir.join("identity.pem");
    let ed = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("ed25519");
    std::fs::write(&identity, ed.serialize_pem()).expect("write");
    let text = demo::DEMO_CONFIG.replacen(
        "id = \"globex\"\n",
        "id = \"globex\"\njwt_issuers = [\"https://idp.bench\"]\n",
        1,
    ) + &format!(
        "\n[[auth.jwt]]\nissuer = \"https://idp.bench\"\naudiences = [\"kwanus-gateway\"]\nalgorithms = [\"ES256\", \"RS256\"]\njwks_file = {:?}\nleeway = \"5s\"\n",
        jwks.display().to_string()
    );
    let snap = config::from_str(&text, &Overrides::default()).expect("config");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("time")
        .as_secs();
    let claims = serde_json::json!({"iss": "https://idp.bench", "aud": "kwanus-gateway", "sub": "globex", "exp": now + 3600});
    let sign = |k: &EncodingKey, alg, kid: &str| {
        let mut h = Header::new(alg);
        h.kid = Some(kid.into());
        jsonwebtoken::encode(&h, &claims, k).expect("token")
    };
    let es_token = sign(&es, Algorithm::ES256, "es");
    let rs_token = sign(&rs, Algorithm::RS256, "rs");
    let signer = IdentitySigner::from_pem(
        &std::fs::read(&identity).expect("pem"),
        "kwanus-gateway".into(),
        std::time::Duration::from_secs(60),
    )
    .expect("signer");

    let mut g = c.benchmark_group("tokens");
    g.bench_function("baseline_sha256_of_key", |b| {
        b.iter(|| auth::digest(black_box(b"kwp_demo_acme_read_only_key_0001")))
    });
    g.bench_function("verify_es256", |b| {
        b.iter(|| snap.issuers.verify(black_box(&es_token)).expect("valid"))
    });
    g.bench_function("verify_rs256", |b| {
        b.iter(|| snap.issuers.verify(black_box(&rs_token)).expect("valid"))
    });
    g.bench_function("sign_identity_eddsa", |b| {
        b.iter(|| {
            let claims = IdentityClaims {
                iss: "kwanus-gateway",
                aud: "reports-api",
                sub: "globex",
                tier: 2,
                stage: "active",
                permission: "reports:read",
                route: "get-report",
                jti: "01a2107e-d81d-753a-91cd-e11e509a2998",
                iat: 0,
                exp: 0,
            };
            signer
                .sign(black_box(claims), SystemTime::now())
                .expect("signed")
        })
    });
    g.finish();
}

criterion_group!(benches, tokens);
criterion_main!(benches);
