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
    pub fn validate(
        &self,
        content_type: Option<&[u8]>,
        body: &[u8],
    ) -> Result<(), SchemaViolation> {
        let json_type = content_type
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(|v| v.split(';').next().unwrap_or("").trim())
            .is_some_and(super::is_json_media_type);
        if !json_type {
            return Err(one("", "the body must be sent as application/json"));
        }
        if body.is_empty() {
            return Err(one("", "a JSON body is required"));
        }
        let doc = match super::strict::parse(body) {
            Ok(doc) => doc,
            Err(e) if e.to_string().starts_with("duplicate key") => {
                return Err(one("", "the body has a duplicate key (ambiguous JSON)"));
            }
            Err(_) => return Err(one("", "the body is not valid JSON")),
        };
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
