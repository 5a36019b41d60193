//! The documentation's relative links resolve: every `[text](path#anchor)` in `README.md`,
//! `SECURITY.md` and `docs/` names a file that exists and, with an anchor, a heading in it.

use std::path::{Path, PathBuf};

/// The markdown files whose links are checked.
fn documents() -> Vec<PathBuf> {
    let mut files = vec![PathBuf::from("README.md"), PathBuf::from("SECURITY.md")];
    for entry in std::fs::read_dir("docs").expect("docs/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    files
}

/// `(target)` of every inline link outside code blocks and code spans.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        // Code spans never hold links.
        let visible: String = line
            .split('`')
            .enumerate()
            .filter(|(i, _)| i % 2 == 0)
            .map(|(_, part)| part)
            .collect::<Vec<_>>()
            .join(" ");
        let mut rest = visible.as_str();
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    out
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces to `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| slug(l.trim_start_matches('#')))
        .collect()
}

#[test]
fn every_relative_link_in_the_documentation_resolves() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).expect("read");
        let dir = doc.parent().unwrap_or(Path::new("."));
        for link in links(&text) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (file, anchor) = link.split_once('#').unwrap_or((&link, ""));
            let target = if file.is_empty() {
                doc.clone()
            } else {
                dir.join(file)
            };
            if !target.exists() {
                broken.push(format!("{}: {link}: no such file", doc.display()));
                continue;
            }
            if !anchor.is_empty() && !anchors(&target).iter().any(|a| a == anchor) {
                broken.push(format!("{}: {link}: no such heading", doc.display()));
            }
        }
    }
    assert!(checked > 20, "only {checked} links found");
    assert!(broken.is_empty(), "{broken:#?}");
}

#[test]
fn the_readme_stays_an_entry_point() {
    let readme = std::fs::read_to_string("README.md").expect("README.md");
    assert!(
        readme.lines().count() <= 200,
        "README.md has grown past 200 lines"
    );
    assert!(readme.contains("cargo run --release -- demo") && readme.contains("scripts/test"));
    assert!(
        !readme.contains("../shared"),
        "no links outside the repository"
    );
}

#[test]
fn the_load_benchmark_configuration_loads() {
    let sha = hex::encode(kwanus_gateway::auth::digest(
        b"kwp_load_benchmark_key_0123456789abcdef0123",
    ));
    // The mixed strict row's schema is copied beside the rendered config, as run.sh does.
    let dir = std::env::temp_dir().join(format!("kwanus-bench-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::copy(
        "benches/load/mixed/publish-report.schema.json",
        dir.join("mixed-publish-report.schema.json"),
    )
    .expect("schema");
    for tail in ["kwanus-small.toml", "mixed/kwanus.toml"] {
        let mut text = std::fs::read_to_string("benches/load/kwanus.toml").expect("kwanus.toml");
        text.push_str(&std::fs::read_to_string(format!("benches/load/{tail}")).expect(tail));
        for (name, value) in [
            ("PORT", "0"),
            ("ADMIN", "0"),
            ("SHA", sha.as_str()),
            ("DIR", "/tmp/kwanus-bench-audit-unused"),
            ("DURABILITY", "strict"),
            ("UP", "9"),
        ] {
            text = text.replace(&format!("@{name}@"), value);
        }
        if let Err(e) = kwanus_gateway::config::from_str_in(&text, &Default::default(), Some(&dir))
        {
            panic!("benches/load/kwanus.toml + {tail}: {e}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
