//! The reasons an answer of the gateway's own names in the audit record (and in metrics
//! labels), beyond the kind of answer: what was malformed, what an upstream did, why an
//! idempotent request waits, what made a path forbidden.

/// What about a request (beyond its target) is malformed: the reason in the audit record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// `CONNECT`.
    ConnectMethod,
    /// Not one valid `Host`.
    BadHost,
    /// A body on `GET` or `HEAD`.
    BodyNotAllowed,
    /// A malformed chunked body, or a transfer coding other than one `chunked`.
    MalformedBody,
    /// An `Idempotency-Key` that is not printable ASCII of 1 to 255 characters.
    IdempotencyKeyMalformed,
    /// A query the upstream URI cannot carry.
    UnforwardableQuery,
    /// A `_method` parameter in the query or a form body: frameworks behind the gateway would
    /// run another method than the one that was authorised.
    MethodOverride,
}

/// What went wrong with an upstream: the reason in the audit record and the `kind` label of
/// `upstream_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamFault {
    /// The TCP connection was refused.
    ConnectFailed,
    /// The TCP connection was not made in time.
    ConnectTimeout,
    /// The connection failed after it was made.
    ConnectionError,
    /// No response head in time.
    ResponseTimeout,
    /// The upstream has no client (a snapshot used without `Pools::bind`).
    NotBound,
    /// The task finishing an idempotent exchange failed.
    ExchangeFailed,
    /// An unrequested 1xx (`101 Switching Protocols`).
    Unrequested1xx,
    /// Both `Content-Length` and `Transfer-Encoding`.
    AmbiguousFraming,
}

/// Why an idempotent request cannot run now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// The first request with the key is in flight.
    InFlight,
    /// The first request's response was not kept (too large, or no answer came).
    ResponseNotKept,
}

// === impl Malformed ===

impl Malformed {
    /// The audit reason.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConnectMethod => "connect_method",
            Self::BadHost => "bad_host",
            Self::BodyNotAllowed => "body_not_allowed",
            Self::MalformedBody => "malformed_body",
            Self::IdempotencyKeyMalformed => "idempotency_key_malformed",
            Self::UnforwardableQuery => "unforwardable_query",
            Self::MethodOverride => "method_override",
        }
    }

    /// Whether the body's framing is in doubt: the connection is closed after the answer, so
    /// no byte after it is read as a request.
    pub fn ends_connection(self) -> bool {
        match self {
            Self::BodyNotAllowed | Self::MalformedBody => true,
            Self::ConnectMethod
            | Self::BadHost
            | Self::IdempotencyKeyMalformed
            | Self::UnforwardableQuery
            | Self::MethodOverride => false,
        }
    }
}

// === impl UpstreamFault ===

impl UpstreamFault {
    /// The audit reason.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConnectFailed => "upstream_connect_failed",
            Self::ConnectTimeout => "upstream_connect_timeout",
            Self::ConnectionError => "upstream_connection_error",
            Self::ResponseTimeout => "upstream_response_timeout",
            Self::NotBound => "upstream_not_bound",
            Self::ExchangeFailed => "upstream_exchange_failed",
            Self::Unrequested1xx => "upstream_unrequested_1xx",
            Self::AmbiguousFraming => "upstream_ambiguous_framing",
        }
    }
}

// === impl Conflict ===

impl Conflict {
    /// The audit reason.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InFlight => "idempotency_in_flight",
            Self::ResponseNotKept => "idempotency_response_not_kept",
        }
    }
}

/// What made a path forbidden.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forbidden {
    /// It lies under a `forbidden` prefix.
    Prefix,
    /// It has a `forbidden_segments` segment somewhere.
    Segment,
}

// === impl Forbidden ===

impl Forbidden {
    /// The audit reason.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Prefix => "forbidden_prefix",
            Self::Segment => "forbidden_segment",
        }
    }
}

/// Each reason is written as its audit string.
macro_rules! display_as_str {
    ($($t:ty),+) => {$(
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )+};
}

display_as_str!(Malformed, UpstreamFault, Conflict, Forbidden);
