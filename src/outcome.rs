//! The finish step's data: one `Outcome` per request, handed to every sink exactly once.
//!
//! The sinks — the access log, the metrics and the audit trail, joined by `Tee` — receive plain
//! data and never see a request object. Before a side effect, an `Intent` goes the same way.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How a partner's credential was presented (a closed set; the audit record keeps the names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Credential {
    /// An API key in `Authorization: Bearer`.
    ApiKeyBearer,
    /// An API key in `X-Api-Key`.
    ApiKeyHeader,
    /// A partner JWT.
    Jwt,
}

// === impl Credential ===

impl Credential {
    /// `api_key_bearer`, `api_key_header` or `jwt`, as in the audit record.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApiKeyBearer => "api_key_bearer",
            Self::ApiKeyHeader => "api_key_header",
            Self::Jwt => "jwt",
        }
    }
}

/// Whether policy let the request through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Forwarded (or about to be, when the upstream failed).
    Allow,
    /// Answered by the gateway itself.
    Deny,
}

/// Everything the audit trail and metrics need to know about one finished request.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// When the request arrived.
    pub ts: SystemTime,
    /// The gateway's request id.
    pub request_id: String,
    /// The partner, if a key named one.
    pub partner: Option<Arc<str>>,
    /// The key id, if a key was recognised.
    pub key_id: Option<Arc<str>>,
    /// The partner's tier.
    pub tier: Option<u8>,
    /// How the credential was presented, if a key or token was accepted.
    pub credential: Option<Credential>,
    /// For a token: its issuer.
    pub jwt_issuer: Option<Arc<str>>,
    /// For a token: its `kid`.
    pub jwt_kid: Option<Arc<str>>,
    /// The client's address.
    pub client: SocketAddr,
    /// The request method.
    pub method: String,
    /// The normalised path, or the raw path when it could not be normalised.
    pub path: String,
    /// The query string as received (and forwarded), if the target had one.
    pub query: Option<String>,
    /// The matched route.
    pub route: Option<Arc<str>>,
    /// The route's permission.
    pub permission: Option<Arc<str>>,
    /// Allow or deny.
    pub decision: Decision,
    /// The SPEC error code of a gateway-made response.
    pub code: Option<&'static str>,
    /// The precise reason.
    pub reason: &'static str,
    /// The status sent to the client (499 when the client went away first).
    pub status: u16,
    /// The upstream called.
    pub upstream: Option<Arc<str>>,
    /// The upstream's status.
    pub upstream_status: Option<u16>,
    /// Time from arrival to the response head (or to abandonment).
    pub duration: Duration,
    /// Time the upstream took to answer (or fail), when one was called.
    pub upstream_duration: Option<Duration>,
    /// The `Idempotency-Key` sent (at most 256 characters kept).
    pub idempotency_key: Option<String>,
    /// Whether the response was a replay of a stored one.
    pub replayed: bool,
    /// Whether a client-sent value (method, path, query, idempotency key) was cut to keep the
    /// record small.
    pub truncated: bool,
    /// For a request refused by the per-address limit on unauthenticated traffic: the code it
    /// would have had. Such a request is counted in a summary record, not recorded by itself.
    pub summarised: Option<&'static str>,
    /// Whether the partner received the whole response: false when the upstream body failed
    /// mid-stream, the client went away, or the response was cut.
    pub response_complete: bool,
    /// What a response contract removed from the body, if anything.
    pub fields_removed: Option<Box<FieldsRemoved>>,
    /// For `request_contract_violation`: where the body fails its schema, as JSON Pointers
    /// into it (the first few, each capped; never a value).
    pub schema_pointers: Vec<String>,
}

/// What a response contract removed: the pointers (at most 32, within a byte budget so the
/// record stays small), the count, and the count per data class (`allow_fields` for the
/// allow-list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldsRemoved {
    /// How many fields were removed.
    pub count: usize,
    /// The first of them, as JSON Pointers into the upstream's body.
    pub pointers: Vec<String>,
    /// Per data class: how many.
    pub by_class: Vec<(Arc<str>, usize)>,
}

/// The longest prefix of `value` whose JSON-escaped form fits in `max` bytes, cut on a
/// character boundary, and whether anything was cut.
pub fn cap_escaped(value: &str, max: usize) -> (String, bool) {
    // No character escapes to more than six bytes: a value that short fits whatever it holds.
    if value.len().saturating_mul(6) <= max {
        return (value.to_owned(), false);
    }
    let mut used = 0;
    for (i, c) in value.char_indices() {
        let escaped = match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            c if u32::from(c) < 0x20 => 6,
            c => c.len_utf8(),
        };
        if used + escaped > max {
            return (value[..i].to_owned(), true);
        }
        used += escaped;
    }
    (value.to_owned(), false)
}

/// What the trail knows of a request before it is forwarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    /// The request id its outcome will carry.
    pub request_id: String,
    /// The partner.
    pub partner: std::sync::Arc<str>,
    /// The key id.
    pub key_id: std::sync::Arc<str>,
    /// The route.
    pub route: std::sync::Arc<str>,
    /// The route's permission.
    pub permission: std::sync::Arc<str>,
    /// The method (as capped in the outcome).
    pub method: String,
    /// The normalised path (as capped in the outcome).
    pub path: String,
    /// The client's address.
    pub client: SocketAddr,
    /// When the request arrived.
    pub ts: SystemTime,
}

/// Receives every outcome exactly once.
pub trait OutcomeSink: Send + Sync + 'static {
    /// Records one finished request.
    fn record(&self, outcome: &Outcome) -> Recorded;

    /// Records, before a request with a side effect is forwarded, that it is about to be; the
    /// request is forwarded only once this resolves `true` (strict audit writes it durably).
    fn intent(&self, intent: &Intent) -> Recorded {
        let _ = intent;
        Recorded::Done
    }

    /// Whether the sink can take records now; when it cannot, requests fail closed.
    fn ready(&self) -> bool {
        true
    }

    /// Records a partner's suspension for misuse, or its lift.
    fn suspension(&self, event: &crate::governance::misuse::Event) {
        let _ = event;
    }
}

/// What became of a record handed to a sink.
#[derive(Debug)]
pub enum Recorded {
    /// Taken; nothing to wait for.
    Done,
    /// Queued; resolves `true` once durable (strict audit), `false` if it could not be.
    Pending(tokio::sync::oneshot::Receiver<bool>),
    /// Refused (the sink is full or broken): the response must not be released as is.
    Refused,
}

/// Several sinks as one; the strictest answer wins.
pub struct Tee(pub Vec<std::sync::Arc<dyn OutcomeSink>>);

/// The access log: one structured `tracing` event per request.
#[derive(Debug, Default)]
pub struct LogSink;

// === impl Decision ===

impl Decision {
    /// `allow` or `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        }
    }
}

// === impl LogSink ===

impl OutcomeSink for LogSink {
    fn record(&self, o: &Outcome) -> Recorded {
        if o.summarised.is_some() {
            // A flood is counted in the metrics and summarised in the trail, not logged per line.
            return Recorded::Done;
        }
        tracing::info!(
            target: "kwanus_gateway::access",
            request_id = %o.request_id,
            partner = o.partner.as_deref().unwrap_or("-"),
            key_id = o.key_id.as_deref().unwrap_or("-"),
            client = %o.client,
            method = %o.method,
            path = %o.path,
            route = o.route.as_deref().unwrap_or("-"),
            decision = o.decision.as_str(),
            code = o.code.unwrap_or("-"),
            reason = o.reason,
            status = o.status,
            upstream_status = o.upstream_status.unwrap_or(0),
            duration_us = o.duration.as_micros() as u64,
            response_complete = o.response_complete,
            "request"
        );
        Recorded::Done
    }
}

// === impl Tee ===

impl Tee {
    /// Hands something to every sink; the strictest answer wins.
    fn each(&self, f: impl Fn(&dyn OutcomeSink) -> Recorded) -> Recorded {
        let mut result = Recorded::Done;
        for sink in &self.0 {
            match (f(sink.as_ref()), &result) {
                (Recorded::Refused, _) => result = Recorded::Refused,
                (Recorded::Pending(rx), Recorded::Done) => result = Recorded::Pending(rx),
                (Recorded::Pending(_) | Recorded::Done, _) => {}
            }
        }
        result
    }
}

impl OutcomeSink for Tee {
    fn record(&self, outcome: &Outcome) -> Recorded {
        self.each(|s| s.record(outcome))
    }

    fn intent(&self, intent: &Intent) -> Recorded {
        self.each(|s| s.intent(intent))
    }

    fn ready(&self) -> bool {
        self.0.iter().all(|s| s.ready())
    }

    fn suspension(&self, event: &crate::governance::misuse::Event) {
        for s in &self.0 {
            s.suspension(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::cap_escaped;

    #[test]
    fn values_are_capped_by_their_escaped_length_on_a_character_boundary() {
        assert_eq!(cap_escaped("abc", 3), ("abc".to_owned(), false));
        assert_eq!(cap_escaped("abcd", 3), ("abc".to_owned(), true));
        // `"` and `\` take two bytes once escaped, a control character six.
        assert_eq!(cap_escaped("a\"b", 3), ("a\"".to_owned(), true));
        assert_eq!(cap_escaped("\u{1}\u{1}", 11), ("\u{1}".to_owned(), true));
        // A multi-byte character is kept whole or not at all.
        assert_eq!(cap_escaped("aé", 2), ("a".to_owned(), true));
        for s in ["x\"\\\u{0}é\n", &"\\".repeat(100)] {
            let (kept, _) = cap_escaped(s, 17);
            let json = serde_json::to_string(&kept).unwrap_or_default();
            assert!(json.len() <= 17 + 2, "{json}");
        }
    }
}
