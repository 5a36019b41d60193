//! What the benchmarks share: a typical allowed request's outcome.

use std::time::{Duration, SystemTime};

use kwanus_gateway::outcome::{Decision, Outcome};

/// An allowed `GET /v1/reports/{n}` by acme, as the finish step records it.
pub(crate) fn outcome(n: u64) -> Outcome {
    Outcome {
        ts: SystemTime::now(),
        request_id: format!("01a2105a-0000-7000-8000-{n:012}"),
        partner: Some("acme".into()),
        key_id: Some("acme-2026a".into()),
        tier: Some(1),
        credential: Some(kwanus_gateway::outcome::Credential::ApiKeyBearer),
        jwt_issuer: None,
        jwt_kid: None,
        client: "127.0.0.1:50000".parse().expect("addr"),
        method: "GET".into(),
        path: format!("/v1/reports/{n}"),
        query: None,
        route: Some("get-report".into()),
        permission: Some("reports:read".into()),
        decision: Decision::Allow,
        code: None,
        reason: "permitted",
        status: 200,
        upstream: Some("reports-api".into()),
        upstream_status: Some(200),
        duration: Duration::from_micros(850),
        upstream_duration: Some(Duration::from_micros(700)),
        idempotency_key: None,
        replayed: false,
        truncated: false,
        summarised: None,
        response_complete: true,
        fields_removed: None,
        schema_pointers: Vec::new(),
    }
}
