//! Route integrity (issue 16, item 3) and broken contracts (items 1, 2): what `check` refuses
//! at load, each with its place, and the forbidden segments a running gateway refuses wherever
//! they appear in a path.

use std::process::Command;

use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_kwanus-gateway");

const BASE: &str = r#"
[permissions]
"reports:read" = { kind = "read" }
"reports:publish" = { kind = "write" }

[[upstreams]]
name = "api"
url = "http://127.0.0.1:7001"
"#;

fn check(text: &str) -> (i32, String) {
    let dir = temp_dir("integrity");
    let path = dir.join("gateway.toml");
    std::fs::write(&path, format!("{text}{}", no_trail_unless(text))).expect("write");
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .expect("check");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout),
    )
}

fn route(name: &str, method: &str, path: &str, permission: &str, extra: &str) -> String {
    format!(
        "\n[[routes]]\nname = \"{name}\"\nmethod = \"{method}\"\npath = \"{path}\"\npermission = \"{permission}\"\nupstream = \"api\"\n{extra}"
    )
}

#[test]
fn check_refuses_each_integrity_breach_with_its_place() {
    let text = format!(
        "forbidden_segments = [\"internal\", \"db\", \"a/b\"]\n{BASE}\n[[upstreams]]\nname = \"pg\"\nurl = \"http://10.0.0.5:5432\"\n{}{}{}{}{}",
        route(
            "delete-report",
            "DELETE",
            "/v1/reports/{id}",
            "reports:read",
            ""
        ),
        route("everything", "GET", "/v1/files/{*rest}", "reports:read", ""),
        route("purge", "POST", "/reports/purge", "reports:publish", ""),
        route("users", "GET", "/v1/internal/users", "reports:read", ""),
        route("dumps", "GET", "/v1/reports/DB/dump", "reports:read", ""),
    );
    let (code, out) = check(&text);
    assert_eq!(code, 1, "{out}");
    for (place, words) in [
        ("forbidden_segments[2]", "segment name"),
        ("upstreams[1].url", "database port"),
        (
            "routes[0].permission",
            "read permission only on GET or HEAD",
        ),
        ("routes[1].path", "catch-all"),
        ("routes[2].path", "versioned"),
        ("routes[3].path", "forbidden_segments"),
        ("routes[4].path", "forbidden_segments"),
    ] {
        assert!(
            out.lines()
                .any(|l| l.contains(&format!("{place}: ")) && l.contains(words)),
            "{place} ({words}) missing from:\n{out}"
        );
    }
    assert!(out.contains("7 problem(s)"), "{out}");
}

#[test]
fn each_exception_is_allowed_when_the_config_says_so_and_why() {
    let text = format!(
        "[server]\nrequire_versioned_routes = false\njustification = \"legacy partner paths predate versioning\"\n{BASE}\n[[upstreams]]\nname = \"search\"\nurl = \"http://127.0.0.1:9200\"\nallow_database_port = true\njustification = \"the search API is an HTTP service\"\n{}{}",
        route(
            "everything",
            "GET",
            "/v1/files/{*rest}",
            "reports:read",
            "catch_all = true\njustification = \"static files, one permission by design\"\n"
        ),
        route("legacy", "GET", "/reports/legacy", "reports:read", ""),
    );
    let (code, out) = check(&text);
    assert_eq!(code, 0, "{out}");
    // Without the justification, the same exceptions are refused.
    let unjustified = text
        .replace(
            "justification = \"the search API is an HTTP service\"\n",
            "",
        )
        .replace(
            "justification = \"static files, one permission by design\"\n",
            "",
        )
        .replace(
            "justification = \"legacy partner paths predate versioning\"\n",
            "",
        );
    let (code, out) = check(&unjustified);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("3 problem(s)"), "{out}");
    assert!(
        out.contains("server.require_versioned_routes: ") && out.contains("add justification"),
        "{out}"
    );
}

#[tokio::test]
async fn a_forbidden_segment_anywhere_in_a_path_is_refused_before_routing() {
    let gw = Gateway::start().await;
    for path in ["/v1/reports/internal", "/v1/reports/DB", "/v1/reports/%64b"] {
        let r = gw.get(path, ACME).await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (403, "forbidden_route".into()),
            "{path}"
        );
    }
    assert!(gw.upstream.seen().is_empty(), "{:?}", gw.upstream.seen());
    let reasons: Vec<&str> = gw.outcomes.all().iter().map(|o| o.reason).collect();
    assert_eq!(reasons, ["forbidden_segment"; 3]);
    // A segment that merely contains the word is not refused.
    assert_eq!(gw.get("/v1/reports/internals", ACME).await.status, 200);
}

#[test]
fn check_refuses_each_broken_contract_with_its_place() {
    let dir = temp_dir("contract-schemas");
    let bad_schema = dir.join("bad.json");
    std::fs::write(&bad_schema, r#"{"type": "no-such-type"}"#).expect("write");
    let text = format!(
        r#"
[permissions]
"reports:read" = {{ kind = "read" }}
"reports:publish" = {{ kind = "write" }}

[[upstreams]]
name = "api"
url = "http://127.0.0.1:7001"

[[data_classes]]
name = "raw"
fields = ["raw_text", "/a~2"]
allowed_for = ["no:such"]

[[data_classes]]
name = "everything"
fields = ["/**"]

{}{}{}{}"#,
        route(
            "a",
            "GET",
            "/v1/a",
            "reports:read",
            "[routes.response]\ncontent_types = [\"text/csv\"]\non_violation = \"drop\"\nmax_bytes = 0\n"
        ),
        route(
            "b",
            "GET",
            "/v1/b",
            "reports:read",
            "[routes.response]\nallow_fields = [\"id\"]\n"
        ),
        route(
            "c",
            "POST",
            "/v1/c",
            "reports:publish",
            &format!("request_schema = {:?}\n", bad_schema.display().to_string())
        ),
        route(
            "d",
            "GET",
            "/v1/d",
            "reports:read",
            "request_schema = \"/no/such/schema.json\"\n"
        ),
    );
    let (code, out) = check(&text);
    assert_eq!(code, 1, "{out}");
    for (place, words) in [
        ("data_classes[0].fields[0]", "starts with '/'"),
        ("data_classes[0].fields[1]", "~0"),
        ("data_classes[0].allowed_for[0]", "no:such"),
        ("data_classes[1].fields[0]", "whole document"),
        ("routes[0].response.content_types[0]", "only JSON"),
        ("routes[0].response.on_violation", "strip"),
        ("routes[0].response.max_bytes", "between 1"),
        ("routes[1].response.allow_fields[0]", "starts with '/'"),
        ("routes[2].request_schema", "JSON Schema"),
        ("routes[3].request_schema", "carry no body"),
    ] {
        assert!(
            out.lines()
                .any(|l| l.contains(&format!("{place}: ")) && l.contains(words)),
            "{place} ({words}) missing from:\n{out}"
        );
    }
    assert!(out.contains("10 problem(s)"), "{out}");
}
