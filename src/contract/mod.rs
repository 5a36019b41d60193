//! Data-access rules: what a partner may receive (data classes, response contracts) and what
//! it may send (request schemas). Pure functions over bytes and compiled rules; the proxy
//! buffers bodies and calls them.

mod filter;
mod pattern;
mod scan;
mod schema;
mod tape;
mod walk;

use std::sync::Arc;

pub use filter::{MAX_REPORTED, OUTSIDE_ALLOW_LIST, Removed};
pub use pattern::{FieldPattern, PatternError, PatternSet};
pub use scan::{JsonError, MAX_DEPTH};
pub use schema::{MAX_ERRORS, RequestLimits, RequestSchema, RequestViolation, SchemaError};
pub use tape::{Tape, TapeJson};
pub use walk::{any_top_level_key, check_json};

/// The named data classes of a configuration, in declaration order (a class's tag is its
/// index).
#[derive(Debug, Default)]
pub struct DataClasses {
    /// `(name, permissions that may receive it)`; an empty list means no partner ever.
    classes: Vec<(Arc<str>, Vec<Arc<str>>)>,
    patterns: PatternSet,
}

/// `[routes.response]`, compiled.
#[derive(Debug)]
pub struct ResponseContract {
    /// The configuration's data classes.
    pub classes: Arc<DataClasses>,
    /// Allowed media types (essence, lower case).
    pub content_types: Vec<String>,
    /// Largest body read.
    pub max_bytes: usize,
    /// Only these fields are kept, when set.
    pub allow_fields: Option<PatternSet>,
    /// What a forbidden field does.
    pub on_violation: OnViolation,
}

/// What happens when a response carries a field the partner may not receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnViolation {
    /// The field is removed and the rest forwarded.
    Strip,
    /// The whole response is refused (`502 response_contract_violation`).
    Reject,
}

/// Why a response breaks its contract; each is a `response_contract_violation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// Its media type is not one the contract allows.
    ContentType,
    /// It is compressed (the gateway asked for `identity`).
    Compressed,
    /// It is larger than `max_bytes`.
    TooLarge,
    /// It is not valid JSON (nested deeper than 128, or with a duplicate key).
    InvalidJson,
    /// It carries a field the partner may not receive, and the contract says `reject`.
    ForbiddenField,
    /// It is a part of a document (`206`), which cannot be checked field by field.
    PartialContent,
    /// It declares a charset other than UTF-8 (or starts with a byte-order mark): a client
    /// decoding it so would read other fields than the gateway checked.
    Charset,
}

/// A body that passed its contract.
#[derive(Debug)]
pub struct Passed {
    /// The filtered body, or `None` when nothing was removed (the original bytes go on).
    pub body: Option<Vec<u8>>,
    /// What was removed.
    pub removed: Removed,
}

// === impl DataClasses ===

impl DataClasses {
    /// Adds a class; returns its tag.
    pub fn push(
        &mut self,
        name: Arc<str>,
        fields: Vec<FieldPattern>,
        allowed_for: Vec<Arc<str>>,
    ) -> u16 {
        let tag = u16::try_from(self.classes.len()).unwrap_or(OUTSIDE_ALLOW_LIST - 1);
        for f in fields {
            self.patterns.push(f, tag);
        }
        self.classes.push((name, allowed_for));
        tag
    }

    /// Whether no class is configured.
    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    /// The name a tag reports under (`allow_fields` for the allow-list).
    pub fn name(&self, tag: u16) -> &str {
        match self.classes.get(usize::from(tag)) {
            Some((name, _)) => name,
            None => "allow_fields",
        }
    }
}

// === impl Violation ===

impl Violation {
    /// The reason in the audit record and the problem detail.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ContentType => "content_type_not_allowed",
            Self::Compressed => "compressed_response",
            Self::TooLarge => "response_too_large",
            Self::InvalidJson => "invalid_json",
            Self::ForbiddenField => "forbidden_field",
            Self::PartialContent => "partial_content",
            Self::Charset => "charset",
        }
    }
}

// === impl ResponseContract ===

impl ResponseContract {
    /// Checks the head: the media type, its charset and the coding (before a byte of the
    /// body is read).
    pub fn check_head(&self, headers: &http::HeaderMap) -> Result<(), Violation> {
        if !identity_only(headers) {
            return Err(Violation::Compressed);
        }
        match media_type(headers) {
            Some(e) if self.content_types.contains(&e) => {}
            _ => return Err(Violation::ContentType),
        }
        if utf8_or_unstated(headers) {
            Ok(())
        } else {
            Err(Violation::Charset)
        }
    }

    /// Applies the contract to a whole body, for a partner holding the permissions `holds`
    /// says it holds: the members it may not receive are cut out of the upstream's bytes.
    pub fn apply(&self, body: &[u8], holds: &dyn Fn(&str) -> bool) -> Result<Passed, Violation> {
        if body.len() > self.max_bytes {
            return Err(Violation::TooLarge);
        }
        if has_bom(body) {
            return Err(Violation::Charset);
        }
        let removes = |tag: u16| {
            self.classes
                .classes
                .get(usize::from(tag))
                .is_some_and(|(_, allowed)| !allowed.iter().any(|p| holds(p)))
        };
        let filter = filter::Filter {
            classes: &self.classes.patterns,
            removes: &removes,
            allow: self.allow_fields.as_ref(),
        };
        let (body, removed) = filter.apply(body).map_err(|_| Violation::InvalidJson)?;
        if removed.count > 0 && self.on_violation == OnViolation::Reject {
            return Err(Violation::ForbiddenField);
        }
        Ok(Passed { body, removed })
    }
}

/// Whether a body starts with a byte-order mark (UTF-8, UTF-16 or UTF-32): a declaration of
/// its encoding that a JSON reader may honour.
pub fn has_bom(body: &[u8]) -> bool {
    [
        &b"\xEF\xBB\xBF"[..],
        b"\xFE\xFF",
        b"\xFF\xFE",
        b"\x00\x00\xFE\xFF",
    ]
    .iter()
    .any(|bom| body.starts_with(bom))
}

/// Whether the one `Content-Type` states no charset, or states `utf-8` (any case, quoted or
/// not) exactly once.
pub fn utf8_or_unstated(headers: &http::HeaderMap) -> bool {
    let mut values = headers.get_all(http::header::CONTENT_TYPE).iter();
    let (Some(v), None) = (values.next(), values.next()) else {
        return false;
    };
    let Ok(v) = std::str::from_utf8(v.as_bytes()) else {
        return false;
    };
    let mut charsets = v.split(';').skip(1).filter_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches('"'))
    });
    match (charsets.next(), charsets.next()) {
        (None, _) => true,
        (Some(c), None) => c.eq_ignore_ascii_case("utf-8"),
        (Some(_), Some(_)) => false,
    }
}

/// The media type (essence, lower case) of the one `Content-Type` header: `type/subtype` of
/// token characters, then only `;` parameters. `None` when absent, repeated, or anything else
/// (`application/x-www-form-urlencoded, a/b+json` is not a JSON type to anyone but a lax
/// parser).
pub fn media_type(headers: &http::HeaderMap) -> Option<String> {
    let mut values = headers.get_all(http::header::CONTENT_TYPE).iter();
    let (Some(v), None) = (values.next(), values.next()) else {
        return None;
    };
    let essence = std::str::from_utf8(v.as_bytes())
        .ok()?
        .split(';')
        .next()?
        .trim();
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    let (t, sub) = essence.split_once('/')?;
    (token(t) && token(sub)).then(|| essence.to_ascii_lowercase())
}

/// Whether every `Content-Encoding` (if any) is `identity`.
pub fn identity_only(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(http::header::CONTENT_ENCODING)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .all(|e| e.trim_ascii().eq_ignore_ascii_case(b"identity"))
}

/// Whether `media` (an essence) is a JSON media type: `application/json` or `*/*+json`.
pub fn is_json_media_type(media: &str) -> bool {
    let media = media.to_ascii_lowercase();
    media == "application/json"
        || media
            .split_once('/')
            .is_some_and(|(t, s)| !t.is_empty() && s.len() > 5 && s.ends_with("+json"))
}
