//! gateway.toml -> `file::File` (serde, exact shape) -> `validate` -> `Snapshot` (runtime types).
//!
//! Loading never panics and never half-applies: it returns a whole snapshot or every problem.

pub(crate) mod defaults;
mod error;
mod file;
pub mod model;
mod validate;

pub use error::{ConfigError, Problem, ProblemKind};

use std::net::SocketAddr;
use std::path::Path;

use crate::snapshot::Snapshot;

/// Whether `s` is usable as a partner id or route name: non-empty, letters, digits, `_ . -`
/// (so it is safe in headers, metric labels and log fields).
pub fn is_valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// Values that replace parts of the file before validation (demo and tests bind port 0).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Replaces `server.listen`.
    pub listen: Option<SocketAddr>,
    /// Replaces every `upstreams[].url`.
    pub upstream_url: Option<String>,
    /// The built-in demo: its published keys load (anywhere else they are refused).
    pub demo: bool,
}

/// Reads, parses and validates the configuration file at `path`.
pub fn load(path: &Path) -> Result<Snapshot, ConfigError> {
    load_with(path, &Overrides::default())
}

/// As [`load`], also giving the SHA-256 (hex) of the bytes read when they could be read (a
/// reload names it even for a file that does not load), from one read of the file.
pub fn load_hashed(path: &Path) -> (Option<String>, Result<Snapshot, ConfigError>) {
    let io = |source| ConfigError::Io {
        path: path.to_owned(),
        source,
    };
    let bytes = match crate::files::read(path) {
        Ok(b) => b,
        Err(e) => return (None, Err(io(e))),
    };
    let sha = hex::encode(crate::auth::digest(&bytes));
    let loaded = String::from_utf8(bytes)
        .map_err(|_| {
            io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "stream did not contain valid UTF-8",
            ))
        })
        .and_then(|text| from_str_in(&text, &Overrides::default(), path.parent()));
    (Some(sha), loaded)
}

/// As [`load`], with overrides applied before validation.
pub fn load_with(path: &Path, overrides: &Overrides) -> Result<Snapshot, ConfigError> {
    let text = crate::files::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_owned(),
        source,
    })?;
    from_str_in(&text, overrides, path.parent())
}

/// Parses and validates configuration text; relative schema paths are read from the working
/// directory.
pub fn from_str(text: &str, overrides: &Overrides) -> Result<Snapshot, ConfigError> {
    from_str_in(text, overrides, None)
}

/// Parses and validates configuration text; relative `request_schema` paths are resolved
/// against `base` (the configuration file's folder), so schemas travel with the file.
pub fn from_str_in(
    text: &str,
    overrides: &Overrides,
    base: Option<&Path>,
) -> Result<Snapshot, ConfigError> {
    let mut file: file::File =
        toml::from_str(text).map_err(|e| ConfigError::Syntax(e.to_string()))?;
    // The governance view is of the file as written (paths as written, no overrides).
    let mut model = model::of(&file);
    if let Some(base) = base {
        resolve(&mut file, base);
    }
    let paths = model::file_paths(&file);
    if let Some(listen) = overrides.listen {
        file.server.listen = listen.to_string();
    }
    if let Some(url) = &overrides.upstream_url {
        for u in &mut file.upstreams {
            u.url.clone_from(url);
        }
    }
    let hash = hex::encode(crate::auth::digest(text.as_bytes()));
    let mut snap = validate::compile(file, hash, overrides.demo).map_err(ConfigError::Invalid)?;
    model::add_file_hashes(&mut model, &paths, &snap.file_digests);
    snap.model = std::sync::Arc::new(model);
    snap.source = text.into();
    Ok(snap)
}

/// Makes the relative paths of `file` (request schemas, the approvals folder) relative to
/// `base`, the configuration file's folder.
fn resolve(file: &mut file::File, base: &Path) {
    let relative = |s: &mut String| {
        if Path::new(s.as_str()).is_relative() {
            *s = base.join(&*s).display().to_string();
        }
    };
    for r in &mut file.routes {
        if let Some(s) = r.request_schema.as_mut() {
            relative(s);
        }
    }
    if let Some(d) = file
        .governance
        .as_mut()
        .and_then(|g| g.approvals_dir.as_mut())
    {
        relative(d);
    }
}

/// The governance view of a configuration read where the gateway does not run (an
/// officer's workstation): the file parsed, and the files it names hashed where they can be
/// read. Nothing is compiled, no key is loaded, nothing is validated (`check` does that).
#[derive(Debug)]
pub struct View {
    /// The view (a file that cannot be read has no hash).
    pub model: crate::governance::model::Model,
    paths: model::FilePaths,
    /// The files that could not be read here.
    pub unread: Vec<String>,
}

impl View {
    /// The view an approvals folder approved (its files were hashed where it was approved).
    pub fn approved(model: crate::governance::model::Model) -> Self {
        Self {
            model,
            paths: model::FilePaths::default(),
            unread: Vec::new(),
        }
    }

    /// Takes `other`'s hashes for the files that could not be read here, so they are not
    /// shown as changed; returns what each such file is.
    pub fn compare_unread_as(&mut self, other: &crate::governance::model::Model) -> Vec<String> {
        model::carry_unread(&mut self.model, &self.paths, &self.unread, other)
    }
}

/// Reads the governance view of the configuration file at `path` (see [`View`]).
pub fn governance_view(path: &Path) -> Result<View, ConfigError> {
    let text = crate::files::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut file: file::File =
        toml::from_str(&text).map_err(|e| ConfigError::Syntax(e.to_string()))?;
    let mut view = model::of(&file);
    if let Some(base) = path.parent() {
        resolve(&mut file, base);
    }
    let paths = model::file_paths(&file);
    let mut digests = std::collections::BTreeMap::new();
    let mut unread = Vec::new();
    for p in paths.paths() {
        match crate::files::read(Path::new(p)) {
            Ok(bytes) => {
                digests.insert(p.clone(), hex::encode(crate::digest::digest(&bytes)));
            }
            Err(_) => unread.push(p.clone()),
        }
    }
    model::add_file_hashes(&mut view, &paths, &digests);
    Ok(View {
        model: view,
        paths,
        unread,
    })
}

#[cfg(test)]
mod tests;
