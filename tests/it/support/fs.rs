//! Scratch folders for tests: a fresh, empty one per call, so tests running in parallel in one
//! binary never share one.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A new empty folder under the system's temporary folder, named after `name`.
pub fn temp_dir(name: &str) -> PathBuf {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("kwanus-it-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The text of one trail file up to the zeros a live strict segment is written through with.
pub fn trail_text(file: &std::path::Path) -> String {
    let bytes = std::fs::read(file).expect("read trail");
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8(bytes[..end].to_vec()).expect("utf-8 trail")
}

/// Every record of the audit trail in `trail`, parsed, in order.
pub fn audit_records(trail: &std::path::Path) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for (_, f) in kwanus_gateway::audit::trail_files(trail).expect("trail files") {
        for line in trail_text(&f).lines() {
            out.push(serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")));
        }
    }
    out
}

/// A fresh audit signing key at `dir/audit.pem`, made by `keygen --audit-key`.
pub fn audit_key(dir: &std::path::Path) -> PathBuf {
    let key = dir.join("audit.pem");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kwanus-gateway"))
        .args(["keygen", "--audit-key"])
        .arg(&key)
        .output()
        .expect("keygen");
    assert!(out.status.success(), "{out:?}");
    key
}
