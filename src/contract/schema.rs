//! Request contracts: a JSON Schema (2020-12) compiled at load, and the errors a body that
//! does not validate gets — pointers and messages that never echo the partner's data.

use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

/// Most validation errors reported to the partner.
pub const MAX_ERRORS: usize = 5;
/// Most bytes of one reported message.
const MAX_MESSAGE: usize = 200;

/// A compiled request schema.
pub struct RequestSchema {
    validator: jsonschema::Validator,
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

/// Why a request body was refused, as the partner is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaViolation {
    /// The first `MAX_ERRORS` errors: (JSON Pointer into the body, message).
    pub errors: Vec<(String, String)>,
}

// === impl RequestSchema ===

impl RequestSchema {
    /// Compiles a schema document. References to other documents are not fetched.
    pub fn compile(bytes: &[u8]) -> Result<Self, SchemaError> {
        let doc: Value =
            serde_json::from_slice(bytes).map_err(|e| SchemaError::NotJson(e.to_string()))?;
        let validator = jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&doc)
            .map_err(|e| SchemaError::Invalid(e.masked().to_string()))?;
        Ok(Self { validator })
    }

    /// Validates a request body (its media type must be JSON).
    pub fn validate(&self, headers: &http::HeaderMap, body: &[u8]) -> Result<(), SchemaViolation> {
        let json_type = super::media_type(headers).is_some_and(|m| super::is_json_media_type(&m));
        if !json_type {
            return Err(one(
                "",
                "the body must be sent with one Content-Type: application/json",
            ));
        }
        if !super::identity_only(headers) {
            return Err(one("", "the body must not be compressed"));
        }
        if body.is_empty() {
            return Err(one("", "a JSON body is required"));
        }
        let doc = match super::strict::parse_folded(body) {
            Ok(doc) => doc,
            Err(e) if e.to_string().starts_with("duplicate key") => {
                return Err(one(
                    "",
                    "the body has a duplicate key, or two keys that differ only in case (ambiguous JSON)",
                ));
            }
            Err(_) => return Err(one("", "the body is not valid JSON")),
        };
        if !exact_numbers(body) {
            return Err(one(
                "",
                "a number is more precise than the schema can be checked against (over 15 significant digits, or an integer beyond 64 bits)",
            ));
        }
        let errors: Vec<(String, String)> = self
            .validator
            .iter_errors(&doc)
            .take(MAX_ERRORS)
            .map(|e| (e.instance_path().as_str().to_owned(), message(&e)))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(SchemaViolation { errors })
        }
    }
}

impl std::fmt::Debug for RequestSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RequestSchema")
    }
}

/// Whether every number in a (valid) JSON document reads the same as a 64-bit integer or
/// float: the schema checks the parsed value, the upstream reads the text, and the two must
/// agree (`1000.0000000000000001` is `1000` to one and more than 1000 to another).
fn exact_numbers(body: &[u8]) -> bool {
    let mut in_string = false;
    let mut escaped = false;
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        if b == b'"' {
            in_string = true;
            i += 1;
            continue;
        }
        if b == b'-' || b.is_ascii_digit() {
            let start = i;
            while i < body.len()
                && matches!(body[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
            {
                i += 1;
            }
            let token = std::str::from_utf8(&body[start..i]).unwrap_or("");
            let exact = if token.contains(['.', 'e', 'E']) {
                let mantissa = token.split(['e', 'E']).next().unwrap_or("");
                let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
                let significant = digits.iter().position(|d| *d != b'0').map_or(0, |first| {
                    let last = digits.iter().rposition(|d| *d != b'0').unwrap_or(first);
                    last - first + 1
                });
                // Too small for a float (read as 0 or a subnormal) is not exact either.
                let value: f64 = token.parse().unwrap_or(0.0);
                let underflows = significant > 0 && value.abs() < f64::MIN_POSITIVE;
                significant <= 15 && !underflows
            } else {
                token.parse::<i64>().is_ok() || token.parse::<u64>().is_ok()
            };
            if !exact {
                return false;
            }
            continue;
        }
        i += 1;
    }
    true
}

fn one(pointer: &str, message: &str) -> SchemaViolation {
    SchemaViolation {
        errors: vec![(pointer.to_owned(), message.to_owned())],
    }
}

/// The message for one error, with the partner's values masked; kinds whose message would
/// list the partner's own property names say how many instead.
fn message(e: &jsonschema::ValidationError<'_>) -> String {
    let text = match e.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected }
        | ValidationErrorKind::UnevaluatedProperties { unexpected } => format!(
            "{} propert{} the schema does not allow",
            unexpected.len(),
            if unexpected.len() == 1 { "y" } else { "ies" }
        ),
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
    use super::exact_numbers;

    #[test]
    fn numbers_that_read_differently_as_text_and_as_f64_are_found() {
        for ok in [
            r#"{"a":1000,"b":-3.25,"c":1.50000000000000000,"d":"1000.0000000000000001"}"#,
            "[18446744073709551615, -9223372036854775808, 1e300, 0.000001]",
        ] {
            assert!(exact_numbers(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "[1e-400]",
            "[2.5e-310]",
            "[1000.0000000000000001]",
            "[18446744073709551616]",
            "[1.2345678901234567e3]",
        ] {
            assert!(!exact_numbers(bad.as_bytes()), "{bad}");
        }
    }
}
