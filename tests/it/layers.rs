//! The dependency order of the crate's modules, read from their `use crate::` lines: the
//! shared vocabulary (`model`, `digest`, `files`, `normalize`) imports nothing of the crate, and the lower
//! layers never import the ones that build on them.

use std::collections::BTreeSet;
use std::path::Path;

/// The `crate::<module>` names a module's source files mention.
fn imports(module: &str) -> BTreeSet<String> {
    let mut files = Vec::new();
    let single = Path::new("src").join(format!("{module}.rs"));
    if single.exists() {
        files.push(single);
    }
    let dir = Path::new("src").join(module);
    if dir.is_dir() {
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).expect("read_dir") {
                let p = e.expect("entry").path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    files.push(p);
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read");
        let mut rest = text.as_str();
        while let Some(i) = rest.find("crate::") {
            let name: String = rest[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if name != module && !name.is_empty() {
                out.insert(name);
            }
            rest = &rest[i + 7..];
        }
    }
    out
}

#[test]
fn lower_layers_never_import_the_layers_above_them() {
    // module -> what it may import from the crate.
    let allowed: [(&str, &[&str]); 11] = [
        ("files", &[]),
        ("state", &["model", "digest"]),
        ("model", &[]),
        ("digest", &[]),
        ("normalize", &[]),
        ("tls", &["model", "digest", "files"]),
        ("auth", &["model", "digest"]),
        ("contract", &["normalize"]),
        ("routes", &["model", "contract"]),
        ("policy", &["model", "auth", "routes"]),
        ("upstream", &["model", "digest", "files", "tls"]),
    ];
    let mut wrong = Vec::new();
    for (module, may) in allowed {
        for used in imports(module) {
            if !may.contains(&used.as_str()) {
                wrong.push(format!("{module} imports crate::{used}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn files_the_configuration_names_are_read_in_one_module() {
    // The audit trail's own files are the trail module's; everything else goes through `files`.
    let allowed = ["src/files.rs", "src/audit/"];
    let mut stack = vec![std::path::PathBuf::from("src")];
    let mut wrong = Vec::new();
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let shown = p.display().to_string();
            if allowed.iter().any(|a| shown.starts_with(a)) || shown.ends_with("tests.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&p).expect("read");
            for needle in [
                "fs::read(",
                "fs::read_to_string(",
                "pem_file_iter(",
                "from_pem_file(",
            ] {
                if text.contains(needle) {
                    wrong.push(format!("{shown} calls {needle}"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}
