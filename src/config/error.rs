//! Configuration errors: each names its place in the file, the bad value and the fix.

use std::fmt;
use std::path::PathBuf;

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not have the expected shape.
    #[error("{0}")]
    Syntax(String),
    /// The file parsed, but breaks one or more rules; every problem is listed.
    #[error("{}", Problems(.0))]
    Invalid(Vec<Problem>),
    /// The file is valid, but the change from the running configuration is not allowed
    /// (grants added to a partner in maintenance).
    #[error("{0}")]
    Refused(String),
    /// The change widens access without the approvals `[governance]` requires.
    #[error("{0}")]
    Unapproved(String),
}

/// One rule broken at one place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{place}: {kind}")]
pub struct Problem {
    /// Where, e.g. `partners[2].permissions[0]`.
    pub place: String,
    /// What is wrong and how to fix it.
    pub kind: ProblemKind,
}

/// The rules a configuration can break.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProblemKind {
    /// `*`, `reports:*` and the like.
    #[error(
        "{0:?} is a wildcard or pattern; permissions are exact names: list each permission explicitly"
    )]
    WildcardPermission(String),
    /// A permission that is not in the registry.
    #[error(
        "{0:?} is not declared in [permissions]; declare it there with its kind (partners cannot define permissions)"
    )]
    UnknownPermission(String),
    /// A permission whose kind is above the partner's tier.
    #[error(
        "{permission:?} is of kind {kind}, above the tier-{tier} ceiling ({ceiling}); remove it or raise the partner's tier"
    )]
    AboveTierCeiling {
        /// The permission.
        permission: String,
        /// Its kind.
        kind: String,
        /// The partner's tier.
        tier: u8,
        /// The kinds that tier may hold.
        ceiling: String,
    },
    /// An upstream name that no `[[upstreams]]` declares.
    #[error("upstream {0:?} is not declared in [[upstreams]]; add it there or fix the name")]
    UnknownUpstream(String),
    /// A route under a forbidden prefix.
    #[error(
        "{path:?} lies under the forbidden prefix {prefix:?}; forbidden paths are never routed, remove the route"
    )]
    UnderForbiddenPrefix {
        /// The route path.
        path: String,
        /// The prefix.
        prefix: String,
    },
    /// A name that must be unique and is not.
    #[error("duplicate {what} {value:?} (first at {first}); each must be unique")]
    Duplicate {
        /// What kind of name.
        what: &'static str,
        /// The value.
        value: String,
        /// Where it was first seen.
        first: String,
    },
    /// Not 64 hex digits.
    #[error(
        "{0:?} is not a SHA-256 in hex (64 hex digits); `kwanus-gateway keygen --partner ID` prints one"
    )]
    BadSha256(String),
    /// `stage = "deprecation"` without `sunset`.
    #[error(
        "stage \"deprecation\" requires `sunset` (RFC 3339 UTC), e.g. sunset = \"2027-06-30T00:00:00Z\""
    )]
    MissingSunset,
    /// A required section or field that is absent; what to add.
    #[error("missing: {0}")]
    Missing(&'static str),
    /// A URL that cannot be used.
    #[error("{value:?} is not a usable upstream URL: {why}; write e.g. \"http://127.0.0.1:7001\"")]
    BadUrl {
        /// The value.
        value: String,
        /// Why.
        why: String,
    },
    /// A duration that does not parse or is zero.
    #[error("{value:?} is not a duration: {why}; write e.g. \"250ms\", \"10s\" or \"2m\"")]
    BadDuration {
        /// The value.
        value: String,
        /// Why.
        why: String,
    },
    /// A timestamp that does not parse.
    #[error("{0:?} is not an RFC 3339 UTC timestamp; write e.g. \"2027-01-01T00:00:00Z\"")]
    BadTimestamp(String),
    /// A value outside a closed set.
    #[error("{value:?} is not one of {expected}")]
    NotOneOf {
        /// The value.
        value: String,
        /// The allowed values.
        expected: &'static str,
    },
    /// Any other bad value, with the reason and fix in words.
    #[error("{value:?}: {why}")]
    BadValue {
        /// The value.
        value: String,
        /// What is wrong and how to fix it.
        why: String,
    },
}

struct Problems<'a>(&'a [Problem]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}
