//! Serde types for `[[routes]]` and the data-access rules: `[[data_classes]]` and
//! `[routes.response]`.

use serde::Deserialize;

/// `[[routes]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Route {
    pub(crate) name: String,
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) permission: String,
    pub(crate) upstream: String,
    /// `none`, `optional` or `required` (default `required` on workflow routes, where the
    /// others need a `justification`; `none` elsewhere).
    pub(crate) idempotency: Option<String>,
    /// Allows a `{*name}` catch-all segment (with a `justification`).
    #[serde(default)]
    pub(crate) catch_all: bool,
    /// Why the route needs what integrity rules otherwise refuse (a catch-all, a workflow
    /// route that is not idempotent).
    pub(crate) justification: Option<String>,
    /// What its responses may carry.
    pub(crate) response: Option<Response>,
    /// A JSON Schema file its request bodies must satisfy.
    pub(crate) request_schema: Option<String>,
    /// Largest request body (default 1 MiB with a `request_schema`, else
    /// `limits.max_request_body_bytes`; never more than that).
    pub(crate) request_max_bytes: Option<u64>,
    /// Most values a schema-checked body may hold (default 100 000).
    pub(crate) request_max_values: Option<u64>,
    /// RFC 3339; when the route was deprecated (`Deprecation`; needs `sunset`, before it).
    pub(crate) deprecated_since: Option<String>,
    /// RFC 3339; when the route goes (`Sunset`): removing it before this needs approval.
    pub(crate) sunset: Option<String>,
    /// Where its callers migrate to (`Link: <url>; rel="deprecation"`).
    pub(crate) migration_url: Option<String>,
}

/// `[[data_classes]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DataClass {
    pub(crate) name: String,
    /// JSON Pointer patterns (`*`: one key or index, `**`: any depth).
    pub(crate) fields: Vec<String>,
    /// Permissions that may receive the class; empty: no partner ever.
    #[serde(default)]
    pub(crate) allowed_for: Vec<String>,
}

/// `[routes.response]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Response {
    /// Allowed media types (default `["application/json"]`).
    pub(crate) content_types: Option<Vec<String>>,
    /// Largest body buffered (default 1 MiB).
    pub(crate) max_bytes: Option<u64>,
    /// When set, only these fields are kept.
    pub(crate) allow_fields: Option<Vec<String>>,
    /// `strip` (default) or `reject`.
    pub(crate) on_violation: Option<String>,
    /// Why the route's answers need no filtering: they pass untouched (no other field then).
    pub(crate) passthrough: Option<String>,
}
