//! Every deny code through real sockets: the answer, the outcome, and an upstream that never
//! hears of it.

use crate::support::*;
use kwanus_gateway::outcome::Decision;

#[tokio::test]
async fn allowed_request_reaches_the_upstream_once() {
    let gw = Gateway::start().await;
    let r = gw.get("/v1/reports/42", ACME).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(gw.upstream.seen().len(), 1);
    let o = gw.outcomes.all();
    assert_eq!(o.len(), 1);
    assert_eq!(o[0].decision, Decision::Allow);
    assert_eq!(o[0].partner.as_deref(), Some("acme"));
    assert_eq!(o[0].key_id.as_deref(), Some("acme-current"));
    assert_eq!(o[0].route.as_deref(), Some("get-report"));
    assert_eq!(o[0].permission.as_deref(), Some("reports:read"));
    assert_eq!(o[0].upstream_status, Some(200));
    assert_eq!(o[0].code, None);
}

#[tokio::test]
async fn credential_failures_are_identical_and_precisely_recorded() {
    let gw = Gateway::start().await;
    let cases: [(&[(&str, &str)], &str); 8] = [
        (&[], "key_missing"),
        (
            &[("authorization", "Bearer kwp_nobody_has_this_key_000000")],
            "key_unknown",
        ),
        (
            &[("x-api-key", "kwp_nobody_has_this_key_000000")],
            "key_unknown",
        ),
        (
            &[("authorization", &*format!("Bearer {ACME_EXPIRED}"))],
            "key_expired",
        ),
        (&[("x-api-key", ACME_REVOKED)], "key_revoked"),
        (
            &[("authorization", "Basic YWNtZTpzZWNyZXQ=")],
            "unsupported_scheme",
        ),
        (
            &[
                ("authorization", &*format!("Bearer {ACME}")),
                ("x-api-key", GLOBEX),
            ],
            "ambiguous_credentials",
        ),
        (&[("authorization", "Bearer ")], "malformed_credential"),
    ];
    let mut bodies = Vec::new();
    for (headers, _) in &cases {
        let r = gw.send("GET", "/v1/reports/42", headers, "").await;
        assert_eq!(r.status, 401, "{r:?}");
        assert_eq!(r.code(), "invalid_credentials");
        let mut j = r.json();
        j["request_id"] = serde_json::Value::Null;
        bodies.push((j, r.header("www-authenticate")));
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:#?}");
    let reasons: Vec<_> = gw.outcomes.all().iter().map(|o| o.reason).collect();
    let want: Vec<_> = cases.iter().map(|(_, r)| *r).collect();
    assert_eq!(reasons, want);
    // A known but unusable key still names its partner in the record.
    let expired = &gw.outcomes.all()[3];
    assert_eq!(expired.partner.as_deref(), Some("acme"));
    assert_eq!(expired.key_id.as_deref(), Some("acme-old"));
    assert!(gw.upstream.seen().is_empty());
}

#[tokio::test]
async fn unauthenticated_callers_get_401_whether_or_not_the_path_exists() {
    let gw = Gateway::start().await;
    for path in ["/v1/reports/42", "/v1/nothing/here", "/"] {
        let r = gw.send("GET", path, &[], "").await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (401, "invalid_credentials".into())
        );
    }
}

#[tokio::test]
async fn each_policy_deny_has_its_code() {
    let gw = Gateway::start().await;
    let idem = ("idempotency-key", "k-1");
    let cases = [
        (
            "POST",
            "/v1/workflows/nightly/runs",
            OLDCO,
            403,
            "partner_revoked",
        ),
        ("GET", "/v1/reports/1", OLDCO, 403, "partner_revoked"),
        (
            "POST",
            "/v1/workflows/nightly/runs",
            INITECH,
            403,
            "stage_restricted",
        ),
        (
            "POST",
            "/v1/workflows/nightly/runs",
            ACME,
            403,
            "tier_insufficient",
        ),
        (
            "POST",
            "/v1/insights/query",
            GLOBEX,
            403,
            "tier_insufficient",
        ),
        ("PUT", "/v1/reports/1", GLOBEX, 403, "permission_denied"),
        ("GET", "/v1/nothing", ACME, 404, "route_not_found"),
        ("GET", "/v1/reports/42/", ACME, 404, "route_not_found"),
        ("DELETE", "/v1/reports/42", ACME, 405, "method_not_allowed"),
    ];
    for (method, path, key, status, code) in cases {
        let auth = format!("Bearer {key}");
        let r = gw
            .send(method, path, &[("authorization", &auth), idem], "")
            .await;
        assert_eq!(r.status.as_u16(), status, "{method} {path}: {r:?}");
        assert_eq!(r.code(), code, "{method} {path}");
    }
    assert!(gw.upstream.seen().is_empty(), "{:?}", gw.upstream.seen());
    let outcomes = gw.outcomes.all();
    assert_eq!(outcomes.len(), cases.len());
    assert!(outcomes.iter().all(|o| o.decision == Decision::Deny));
    let codes: Vec<_> = outcomes.iter().map(|o| o.code.unwrap_or("-")).collect();
    let want: Vec<_> = cases.iter().map(|c| c.4).collect();
    assert_eq!(codes, want);
}

#[tokio::test]
async fn permission_denied_names_route_and_permission() {
    let gw = Gateway::start().await;
    let r = gw
        .send("PUT", "/v1/reports/1", &[("x-api-key", GLOBEX)], "")
        .await;
    assert_eq!(r.code(), "permission_denied");
    assert_eq!(
        r.json()["detail"],
        "route put-report requires permission reports:publish"
    );
    assert_eq!(gw.outcomes.all()[0].reason, "permission_not_held");
}

#[tokio::test]
async fn method_not_allowed_lists_allow() {
    let gw = Gateway::start().await;
    let r = gw
        .send("PATCH", "/v1/reports/1", &[("x-api-key", ACME)], "")
        .await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow").as_deref(), Some("GET, HEAD, PUT"));
}

#[tokio::test]
async fn idempotency_key_is_required_where_configured() {
    let gw = Gateway::start().await;
    let auth = format!("Bearer {GLOBEX}");
    let r = gw
        .send(
            "POST",
            "/v1/workflows/nightly/runs",
            &[("authorization", &auth)],
            "{}",
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (428, "idempotency_key_required".into())
    );
    assert!(gw.upstream.seen().is_empty());
    let r = gw
        .send(
            "POST",
            "/v1/workflows/nightly/runs",
            &[("authorization", &auth), ("idempotency-key", "run-1")],
            "{}",
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(gw.upstream.last().headers["idempotency-key"], "run-1");
}

#[tokio::test]
async fn deprecated_partner_reads_with_deprecation_and_sunset() {
    let gw = Gateway::start().await;
    let r = gw.get("/v1/reports/9", INITECH).await;
    assert_eq!(r.status, 200);
    // 2026-09-01T00:00:00Z and 2027-06-30T00:00:00Z.
    assert_eq!(r.header("deprecation").as_deref(), Some("@1788220800"));
    assert_eq!(
        r.header("sunset").as_deref(),
        Some("Wed, 30 Jun 2027 00:00:00 GMT")
    );
    let active = gw.get("/v1/reports/9", ACME).await;
    assert_eq!(active.header("deprecation"), None);
    assert_eq!(active.header("sunset"), None);
}

#[tokio::test]
async fn forbidden_routes_never_reach_the_upstream_in_any_spelling() {
    let gw = Gateway::start().await;
    let spellings = [
        "/internal",
        "/internal/users",
        "/INTERNAL/users",
        "/Internal",
        "/db",
        "/DB/tables",
        "//internal/users",
        "/v1/../internal/users",
        "/v1/reports/../../db/x",
        "/./internal",
        "/%69nternal/users",
        "/%49NTERNAL",
        "/v1/%2e%2e/internal",
        "/v1/.%2E/db",
        "/internal%2fusers",
        "/v1/reports/..;/internal",
        "/internalx",
    ];
    for target in spellings {
        let r = gw.raw(&raw_get(target, ACME)).await;
        let status = r.status();
        assert!(status == 403 || status == 400, "{target}: {}", r.text);
        if status == 403 {
            assert_eq!(r.body_json()["code"], "forbidden_route", "{target}");
        }
    }
    assert!(gw.upstream.seen().is_empty(), "{:?}", gw.upstream.seen());
    // The forbidden check comes before authentication, and names a valid key's partner.
    let anon = gw
        .raw(b"GET /internal HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await;
    assert_eq!(anon.status(), 403);
    let outcomes = gw.outcomes.all();
    assert_eq!(outcomes.len(), spellings.len() + 1);
    let first = &outcomes[0];
    assert_eq!(
        (first.code, first.partner.as_deref()),
        (Some("forbidden_route"), Some("acme"))
    );
    assert_eq!(outcomes.last().map(|o| o.partner.clone()), Some(None));
}

#[tokio::test]
async fn malformed_targets_are_400_and_never_forwarded() {
    let gw = Gateway::start().await;
    let cases = [
        ("/v1/reports/a%2Fb", "encoded_slash"),
        ("/v1/reports/a%5cb", "encoded_slash"),
        ("/v1/reports/a\\b", "backslash"),
        ("/v1/reports/a%00", "control_character"),
        ("/v1/reports/a%0d%0aX-Injected:%201", "control_character"),
        ("/v1/reports/42;x=1", "path_parameter"),
        ("/v1/reports/%c0%ae%c0%ae", "invalid_utf8"),
        ("/v1/reports/%zz", "bad_escape"),
        ("/v1/reports/%252e%252e", "double_encoding"),
        ("/../v1/reports/1", "above_root"),
        ("*", "target_form"),
    ];
    for (target, reason) in cases {
        let r = gw.raw(&raw_get(target, ACME)).await;
        assert_eq!(r.status(), 400, "{target}: {}", r.text);
        assert_eq!(r.body_json()["code"], "bad_request", "{target}");
        let o = gw.outcomes.all();
        assert_eq!(o.last().map(|o| o.reason), Some(reason), "{target}");
    }
    let connect = gw
        .raw(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
        .await;
    assert_eq!(connect.status(), 400, "{}", connect.text);
    assert!(gw.upstream.seen().is_empty());
}
