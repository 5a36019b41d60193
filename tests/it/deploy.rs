//! `deploy/` checked for real: promtool on the shipped rules, their unit tests, the scrape
//! config and a real `/metrics` scrape; every metric the rules and dashboard use exists;
//! manifests parse; the ConfigMap's configuration passes `check`; the systemd unit verifies.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_kwanus-gateway");

fn promtool(args: &[&str], stdin: Option<&str>) -> String {
    let mut child = Command::new("promtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is needed (apt-get install prometheus; .ci/run does it)");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write");
    }
    let out = child.wait_with_output().expect("promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

/// A scrape after traffic of every kind.
async fn scrape() -> String {
    let gw = Gateway::start_with(&format!("{FIXTURE}\n[admin]\nlisten = \"127.0.0.1:0\"\n")).await;
    gw.get("/v1/reports/1", ACME).await;
    gw.get("/v1/reports/1", ACME_EXPIRED).await;
    gw.get("/v1/down", ACME).await;
    gw.get("/internal/x", ACME).await;
    let body = gw.admin("GET", "/metrics", None).await.body;
    String::from_utf8(body.to_vec()).expect("utf-8")
}

#[test]
fn promtool_checks_rules_rule_tests_and_scrape_config() {
    let out = promtool(
        &[
            "check",
            "rules",
            "deploy/prometheus/kwanus-gateway.rules.yaml",
        ],
        None,
    );
    assert!(out.contains("SUCCESS"), "{out}");
    promtool(
        &[
            "test",
            "rules",
            "deploy/prometheus/tests/kwanus-gateway.rules.test.yaml",
        ],
        None,
    );
    promtool(
        &["check", "config", "deploy/prometheus/prometheus.yml"],
        None,
    );
}

#[test]
fn the_denial_spike_counts_only_the_partners_doing() {
    let rules =
        std::fs::read_to_string("deploy/prometheus/kwanus-gateway.rules.yaml").expect("rules");
    let start = rules
        .find("alert: KwanusGatewayDenialSpike")
        .expect("the alert");
    let block = &rules[start..start + rules[start..].find("for:").expect("for")];
    let want: BTreeSet<&str> = kwanus_gateway::model::not_the_partners().collect();
    let selectors: Vec<&str> = block
        .match_indices("code!~\"")
        .map(|(i, _)| &block[i..])
        .collect();
    assert_eq!(
        selectors.len(),
        3,
        "every denials_total in the expression: {block}"
    );
    for s in selectors {
        let regex = &s[7..7 + s[7..].find('"').expect("closing quote")];
        let got: BTreeSet<&str> = regex.split('|').collect();
        assert_eq!(got, want, "{block}");
    }
}

#[tokio::test]
async fn promtool_accepts_a_real_scrape() {
    let text = scrape().await;
    promtool(&["check", "metrics"], Some(&text));
}

/// `kwanus_gateway_*` names used in `text`, without recording-rule names (they hold `:`).
fn used_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("kwanus_gateway_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let preceded_by_colon = i > 0 && rest.as_bytes()[i - 1] == b':';
        if !preceded_by_colon && !tail[end..].starts_with(':') {
            out.insert(tail[..end].to_owned());
        }
        rest = &tail[end..];
    }
    out
}

#[tokio::test]
async fn every_metric_the_rules_and_dashboard_use_is_exported() {
    let text = scrape().await;
    let exported: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    let known = |name: &str| {
        exported.contains(name)
            || ["_bucket", "_sum", "_count"].iter().any(|s| {
                name.strip_suffix(s)
                    .is_some_and(|base| exported.contains(base))
            })
    };
    let rules =
        std::fs::read_to_string("deploy/prometheus/kwanus-gateway.rules.yaml").expect("rules");
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string("deploy/grafana/kwanus-gateway.json").expect("dashboard"),
    )
    .expect("the dashboard is JSON");
    let mut exprs = vec![rules];
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            exprs.push(target["expr"].as_str().expect("expr").to_owned());
        }
    }
    let used: BTreeSet<String> = exprs.iter().flat_map(|e| used_names(e)).collect();
    assert!(used.len() >= 8, "{used:?}");
    let missing: Vec<_> = used.iter().filter(|n| !known(n)).collect();
    assert!(
        missing.is_empty(),
        "not in a real scrape: {missing:?}\nexported: {exported:?}"
    );
    // The dashboard covers what ops asked for.
    let titles: Vec<&str> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .filter_map(|p| p["title"].as_str())
        .collect();
    for want in [
        "Traffic",
        "Error rate",
        "Latency",
        "Denials by code",
        "Denials by partner",
        "Permission usage",
        "Audit health",
    ] {
        assert!(
            titles.iter().any(|t| t.starts_with(want)),
            "no {want} panel: {titles:?}"
        );
    }
}

/// Parses YAML documents with Python's yaml module; returns them as JSON.
fn yaml_docs(path: &str) -> Vec<serde_json::Value> {
    let script = "import json, sys, yaml\nprint(json.dumps([d for d in yaml.safe_load_all(open(sys.argv[1])) if d is not None]))";
    let out = Command::new("python3")
        .args(["-c", script, path])
        .output()
        .expect("python3 with yaml (apt-get install python3-yaml; .ci/run does it)");
    assert!(
        out.status.success(),
        "{path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout).expect("json")
}

#[test]
fn manifests_parse_and_wire_probes_to_the_admin_port() {
    let mut kinds = BTreeSet::new();
    for entry in std::fs::read_dir("deploy/k8s").expect("deploy/k8s") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue; // render-configmap.py
        }
        let docs = yaml_docs(path.to_str().expect("utf-8"));
        for d in &docs {
            kinds.insert(d["kind"].as_str().unwrap_or("?").to_owned());
            if d["kind"] == "Deployment" && d["metadata"]["name"] == "kwanus-redis" {
                kinds.insert("RedisDeployment".to_owned());
            }
            if d["kind"] == "Deployment" && d["metadata"]["name"] == "kwanus-gateway" {
                let c = &d["spec"]["template"]["spec"]["containers"][0];
                assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
                assert_eq!(c["readinessProbe"]["httpGet"]["port"], "admin");
                assert_eq!(c["livenessProbe"]["httpGet"]["port"], "admin");
                assert_eq!(
                    d["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"],
                    true
                );
            }
        }
    }
    for want in [
        "ConfigMap",
        "Deployment",
        "HorizontalPodAutoscaler",
        "Kustomization",
        "PodDisruptionBudget",
        "RedisDeployment",
        "Service",
    ] {
        assert!(kinds.contains(want), "no {want} in deploy/k8s: {kinds:?}");
    }
    for f in [
        "deploy/prometheus/kwanus-gateway.rules.yaml",
        "deploy/prometheus/prometheus.yml",
        "deploy/prometheus/prometheus-kubernetes.yml",
        "deploy/prometheus/tests/kwanus-gateway.rules.test.yaml",
    ] {
        assert!(!yaml_docs(f).is_empty(), "{f}");
    }
}

#[test]
fn the_configmap_is_rendered_from_the_shipped_configuration() {
    let out = Command::new("python3")
        .args(["deploy/k8s/render-configmap.py", "--check"])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_configmap_configuration_passes_check() {
    let docs = yaml_docs("deploy/k8s/configmap.yaml");
    let toml = docs[0]["data"]["gateway.toml"]
        .as_str()
        .expect("gateway.toml in the ConfigMap");
    // As the Deployment mounts it: gateway.toml, and each schema key under schemas/.
    let dir = std::env::temp_dir().join(format!("kwanus-configmap-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("schemas")).expect("mkdir");
    let path = dir.join("gateway.toml");
    // The signing key comes from its Secret, mounted beside the configuration.
    let key = audit_key(&dir);
    let mounted = toml.replacen(
        "\"/etc/kwanus-gateway/secrets/audit-ed25519.pem\"",
        &format!("{:?}", key.display().to_string()),
        1,
    );
    assert_ne!(mounted, toml, "the ConfigMap names the mounted signing key");
    std::fs::write(&path, &mounted).expect("write");
    let data = docs[0]["data"].as_object().expect("data");
    for (k, v) in data {
        let Some(v) = v.as_str() else {
            continue;
        };
        if k.ends_with(".json") {
            std::fs::write(dir.join("schemas").join(k), v).expect("write schema");
            assert!(
                toml.contains(&format!("\"schemas/{k}\"")),
                "{k} is in the ConfigMap but no route names it"
            );
        }
    }
    let out = Command::new(BIN)
        .arg("check")
        .arg("--config")
        .arg(&path)
        .output()
        .expect("check");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        toml.contains("listen = \"0.0.0.0:9090\""),
        "probes need the admin port reachable"
    );
}

#[test]
fn the_systemd_unit_verifies() {
    let unit = std::fs::read_to_string("deploy/systemd/kwanus-gateway.service").expect("unit");
    assert!(unit.contains("ExecReload=/bin/kill -HUP $MAINPID"));
    let dir = std::env::temp_dir().join(format!("kwanus-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("kwanus-gateway.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/kwanus-gateway", BIN)).expect("write");
    let Ok(out) = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
    else {
        panic!("systemd-analyze is needed (it ships with systemd)");
    };
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
}
