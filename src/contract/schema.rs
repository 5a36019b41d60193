//! Request contracts: a JSON Schema (2020-12) compiled at load, and the errors a body that
//! does not validate gets — pointers and messages that never echo the partner's data.

use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

use super::scan::{JsonError, MAX_DEPTH};
use super::tape::{Tape, TapeJson};

/// Most validation errors reported to the partner.
pub const MAX_ERRORS: usize = 5;
/// Most bytes of one reported message.
const MAX_MESSAGE: usize = 200;

/// A compiled request schema.
pub struct RequestSchema {
    validator: jsonschema::Validator<TapeJson>,
    /// The property names the schema knows, by their folded form: a body key that folds to one
    /// of them but is spelled otherwise (`Status` for `status`) is one field to a lenient
    /// binder (Go, Newtonsoft) and another, unchecked one to the schema.
    names: std::collections::HashMap<String, Vec<String>>,
}

/// What checking one body may cost: its size (read before this) and its number of values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    /// Largest body read (`routes.request_max_bytes`).
    pub max_bytes: u64,
    /// Most values a body may hold (`routes.request_max_values`).
    pub max_values: usize,
}

/// Why a schema does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// The file is not JSON.
    #[error("not a JSON document: {0}")]
    NotJson(String),
    /// The document is not a valid JSON Schema 2020-12.
    #[error("not a valid JSON Schema (2020-12): {0}")]
    Invalid(String),
}

/// Why a request body was refused: the reason in the record, and what the partner is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestViolation {
    /// `charset`, `too_deep`, `too_many_values` or `request_schema`.
    pub reason: &'static str,
    /// The first `MAX_ERRORS` errors: (JSON Pointer into the body, message).
    pub errors: Vec<(String, String)>,
}

/// Bodies of at most this many bytes get every error (up to `MAX_ERRORS`); larger ones the
/// first, since the validator collects every error before the first is taken.
const ALL_ERRORS_UP_TO: usize = 10_000;

// === impl RequestSchema ===

impl RequestSchema {
    /// Compiles a schema document. References to other documents are not fetched.
    pub fn compile(bytes: &[u8]) -> Result<Self, SchemaError> {
        let doc: Value =
            serde_json::from_slice(bytes).map_err(|e| SchemaError::NotJson(e.to_string()))?;
        let validator = jsonschema::options_for::<TapeJson>()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&doc)
            .map_err(|e| SchemaError::Invalid(e.masked().to_string()))?;
        let mut names: std::collections::HashMap<String, Vec<String>> = Default::default();
        property_names(&doc, &mut |n| {
            let exact = names.entry(fold_key(n)).or_default();
            if !exact.iter().any(|e| e == n) {
                exact.push(n.to_owned());
            }
        });
        Ok(Self { validator, names })
    }

    /// Validates a request body: JSON in UTF-8 (no other charset, no byte-order mark),
    /// uncompressed, within `limits`, unambiguous (no key twice, numbers exact), and valid
    /// under the schema.
    pub fn validate(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
        limits: RequestLimits,
    ) -> Result<(), RequestViolation> {
        let json_type = super::media_type(headers).is_some_and(|m| super::is_json_media_type(&m));
        if !json_type {
            return Err(one(
                "request_schema",
                "the body must be sent with one Content-Type: application/json",
            ));
        }
        if !super::utf8_or_unstated(headers) || super::has_bom(body) {
            return Err(one(
                "charset",
                "the body must be UTF-8: no other charset, no byte-order mark",
            ));
        }
        if !super::identity_only(headers) {
            return Err(one("request_schema", "the body must not be compressed"));
        }
        if body.is_empty() {
            return Err(one("request_schema", "a JSON body is required"));
        }
        let tape = Tape::read(body, limits.max_values).map_err(|e| refused(e, limits))?;
        if !self.names.is_empty() {
            let miscased = tape.keys().any(|k| {
                self.names
                    .get(&fold_key(&k))
                    .is_some_and(|exact| !exact.iter().any(|e| **e == *k))
            });
            if miscased {
                return Err(one(
                    "request_schema",
                    "a key differs only in case from a property the schema names (a lenient reader would take it for that property)",
                ));
            }
        }
        let root = tape.root();
        if self.validator.is_valid(root) {
            return Ok(());
        }
        let errors: Vec<(String, String)> = if body.len() <= ALL_ERRORS_UP_TO {
            self.validator
                .iter_errors(root)
                .take(MAX_ERRORS)
                .map(|e| (e.instance_path().as_str().to_owned(), message(&e)))
                .collect()
        } else {
            self.validator
                .validate(root)
                .err()
                .map(|e| (e.instance_path().as_str().to_owned(), message(&e)))
                .into_iter()
                .collect()
        };
        Err(RequestViolation {
            reason: "request_schema",
            errors,
        })
    }
}

/// Every name a `properties` object of the schema (at any depth) lists.
fn property_names(schema: &Value, f: &mut impl FnMut(&str)) {
    match schema {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "properties"
                    && let Value::Object(props) = v
                {
                    for name in props.keys() {
                        f(name);
                    }
                }
                property_names(v, f);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| property_names(v, f)),
        _ => {}
    }
}

/// A key as lenient binders compare it.
fn fold_key(k: &str) -> String {
    if k.is_ascii() {
        k.to_ascii_uppercase()
    } else {
        crate::normalize::fold(k)
    }
}

/// What the partner is told of a body that could not be read.
fn refused(e: JsonError, limits: RequestLimits) -> RequestViolation {
    match e {
        JsonError::Invalid => one("request_schema", "the body is not valid JSON"),
        JsonError::TooDeep => one(
            "too_deep",
            &format!("the body is nested deeper than {MAX_DEPTH} arrays and objects"),
        ),
        JsonError::TooManyValues => one(
            "too_many_values",
            &format!(
                "the body holds more than {} values (routes.request_max_values)",
                limits.max_values
            ),
        ),
        JsonError::DuplicateKey => one(
            "request_schema",
            "the body has a duplicate key, or two keys that differ only in case (ambiguous JSON)",
        ),
        JsonError::InexactNumber => one(
            "request_schema",
            "a number is more precise than every reader holds it (over 15 significant digits, or an integer beyond ±2^53)",
        ),
    }
}

impl std::fmt::Debug for RequestSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RequestSchema")
    }
}

fn one(reason: &'static str, message: &str) -> RequestViolation {
    RequestViolation {
        reason,
        errors: vec![(String::new(), message.to_owned())],
    }
}

/// The message for one error, with the partner's values masked. Properties the schema does
/// not allow are named — the caller's own names, escaped and cut short — so it can fix its
/// request; their values never appear.
fn message(e: &jsonschema::ValidationError<'_>) -> String {
    let text = match e.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected }
        | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
            let names: Vec<String> = unexpected
                .iter()
                .map(|n| {
                    let shown: String = n.chars().take(64).flat_map(char::escape_default).collect();
                    format!("\"{shown}\"")
                })
                .collect();
            format!(
                "propert{} {} {} not allowed by the schema",
                if names.len() == 1 { "y" } else { "ies" },
                names.join(", "),
                if names.len() == 1 { "is" } else { "are" }
            )
        }
        ValidationErrorKind::PropertyNames { .. } => {
            "a property name does not match the schema's propertyNames".to_owned()
        }
        _ => e.masked_with("the value").to_string(),
    };
    let mut end = text.len().min(MAX_MESSAGE);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_headers() -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        h
    }

    const LIMITS: RequestLimits = RequestLimits {
        max_bytes: 1 << 20,
        max_values: 100_000,
    };

    #[test]
    fn a_key_spelled_otherwise_than_the_schema_names_it_is_refused() {
        // No `additionalProperties: false`: `Status` would pass the schema unchecked, and a
        // lenient binder would read it as `status`.
        let schema = RequestSchema::compile(
            br#"{"type":"object","properties":{"status":{"enum":["draft"]},"items":{"type":"array","items":{"properties":{"id":{"type":"integer"}}}}}}"#,
        )
        .expect("schema");
        let check = |body: &str| schema.validate(&json_headers(), body.as_bytes(), LIMITS);
        assert!(check(r#"{"status":"draft","other":1}"#).is_ok());
        for body in [
            r#"{"Status":"approved"}"#,
            r#"{"STATUS":"approved"}"#,
            r#"{"ſtatus":"approved"}"#,
            r#"{"items":[{"ID":"x"}]}"#,
        ] {
            let e = check(body).expect_err(body);
            assert_eq!(e.reason, "request_schema", "{body}");
        }
        // Integers beyond ±2^53 read differently to a reader of doubles.
        let e = check(r#"{"status":"draft","n":9007199254740993}"#).expect_err("big");
        assert!(e.errors[0].1.contains("2^53"), "{e:?}");
        assert!(check(r#"{"status":"draft","n":9007199254740992}"#).is_ok());
    }

    #[test]
    fn unique_items_over_large_objects_compares_by_name() {
        let schema = RequestSchema::compile(br#"{"uniqueItems":true}"#).expect("schema");
        let object = |rev: bool| {
            let mut keys: Vec<usize> = (0..5000).collect();
            if rev {
                keys.reverse();
            }
            let members: Vec<String> = keys.iter().map(|k| format!("\"k{k}\":{k}")).collect();
            format!("{{{}}}", members.join(","))
        };
        let same = format!("[{},{}]", object(false), object(true));
        assert!(
            schema
                .validate(&json_headers(), same.as_bytes(), LIMITS)
                .is_err(),
            "two equal objects, members in another order, are not unique"
        );
        let differ = same.replacen("\"k4999\":4999", "\"k4999\":5000", 1);
        assert!(
            schema
                .validate(&json_headers(), differ.as_bytes(), LIMITS)
                .is_ok()
        );
    }
}
