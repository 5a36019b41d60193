//! The configuration in force, kept beside the trail (`config-in-force.json`): what a start
//! replaced, so its config record names the old hash and the diff as a reload's does.

use std::path::Path;

use crate::governance::model::Model;

/// The file's name in the audit folder.
pub const FILE: &str = "config-in-force.json";

/// The configuration the last config record put in force.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct InForce {
    /// Its SHA-256 (hex): the `new_config_sha256` of the last accepted config record.
    pub config_sha256: String,
    /// Its governance view, to diff the next configuration against.
    pub model: Model,
}

/// What was in force before this process, if a gateway ran on this trail before (a missing
/// or unreadable file is a first start: the record then has no old hash, and says so in the
/// log).
pub fn read(dir: &Path) -> Option<InForce> {
    let bytes = match std::fs::read(dir.join(FILE)) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(error = %e, file = FILE, "cannot read the configuration last in force; the start record names no old configuration");
            return None;
        }
    };
    serde_json::from_slice(&bytes)
        .inspect_err(|e| tracing::warn!(error = %e, file = FILE, "the configuration last in force is unreadable; the start record names no old configuration"))
        .ok()
}

/// [`InForce`] borrowed: written without copying the view (megabytes for a large
/// configuration).
#[derive(serde::Serialize)]
struct Kept<'a> {
    config_sha256: &'a str,
    model: &'a Model,
}

/// Keeps `config_sha256` and its governance view as the configuration in force (streamed to
/// a temporary file, then renamed into place).
pub fn write(dir: &Path, config_sha256: &str, model: &Model) {
    let kept = (|| {
        std::fs::create_dir_all(dir)?;
        let tmp = dir.join(format!("{FILE}.tmp"));
        let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        serde_json::to_writer(
            &mut out,
            &Kept {
                config_sha256,
                model,
            },
        )
        .map_err(std::io::Error::other)?;
        std::io::Write::flush(&mut out)?;
        drop(out);
        std::fs::rename(&tmp, dir.join(FILE))
    })();
    if let Err(e) = kept {
        tracing::warn!(error = %e, file = FILE, "cannot keep the configuration in force; the next start record will not name it");
    }
}
