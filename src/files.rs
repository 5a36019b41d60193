//! Reading the files the configuration names — the configuration itself, PEM certificates and
//! keys, JWKS documents, signing keys: every read of them goes through here (the audit trail's
//! own files are `audit::trail`'s). Parsing stays with each concern; this module only reads.

use std::path::Path;

/// The bytes of `path`.
pub fn read(path: &Path) -> std::io::Result<Vec<u8>> {
    std::fs::read(path)
}

/// The text of `path` (UTF-8).
pub fn read_to_string(path: &Path) -> std::io::Result<String> {
    std::fs::read_to_string(path)
}

/// The bytes of `path`, or an error message that names the file.
pub fn read_named(path: &Path) -> Result<Vec<u8>, String> {
    read(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// The files directly in `dir` whose name ends with `suffix`, sorted; none when `dir` does not
/// exist.
pub fn list(dir: &Path, suffix: &str) -> std::io::Result<Vec<std::path::PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for e in entries {
        let p = e?.path();
        if p.is_file() && p.to_string_lossy().ends_with(suffix) {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}
