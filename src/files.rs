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
