//! The hand-written lines are byte for byte what serde_json writes for the same record.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use serde::Serialize;

use crate::outcome::{Credential, Decision, FieldsRemoved, Intent, Outcome};

// The records as they were serialised before: the reference.

#[derive(Serialize)]
struct RequestLine<'a> {
    seq: u64,
    ts: &'a str,
    kind: &'static str,
    request_id: &'a str,
    partner: Option<&'a str>,
    key_id: Option<&'a str>,
    tier: Option<u8>,
    credential: Option<&'a str>,
    issuer: Option<&'a str>,
    kid: Option<&'a str>,
    client: String,
    method: &'a str,
    path: &'a str,
    query: Option<&'a str>,
    route: Option<&'a str>,
    permission: Option<&'a str>,
    decision: &'static str,
    code: Option<&'a str>,
    reason: &'a str,
    status: u16,
    upstream: Option<&'a str>,
    upstream_status: Option<u16>,
    duration_us: u64,
    idempotency_key: Option<&'a str>,
    replayed: bool,
    truncated: bool,
    response_complete: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    fields_removed: Option<FieldsRemovedLine<'a>>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    schema_pointers: &'a [String],
    prev: &'a str,
}

#[derive(Serialize)]
struct FieldsRemovedLine<'a> {
    count: usize,
    pointers: &'a [String],
}

#[derive(Serialize)]
struct IntentLine<'a> {
    seq: u64,
    ts: &'a str,
    kind: &'static str,
    request_id: &'a str,
    partner: &'a str,
    key_id: &'a str,
    client: String,
    method: &'a str,
    path: &'a str,
    route: &'a str,
    permission: &'a str,
    prev: &'a str,
}

/// humantime's form, as the records had it (for 1970 to 9999).
fn humantime(t: SystemTime) -> String {
    humantime::format_rfc3339_micros(t).to_string()
}

fn reference(seq: u64, prev: &str, o: &Outcome) -> Vec<u8> {
    let ts = humantime(o.ts);
    serde_json::to_vec(&RequestLine {
        seq,
        ts: &ts,
        kind: "request",
        request_id: &o.request_id,
        partner: o.partner.as_deref(),
        key_id: o.key_id.as_deref(),
        tier: o.tier,
        credential: o.credential.map(Credential::as_str),
        issuer: o.jwt_issuer.as_deref(),
        kid: o.jwt_kid.as_deref(),
        client: o.client.to_string(),
        method: &o.method,
        path: &o.path,
        query: o.query.as_deref(),
        route: o.route.as_deref(),
        permission: o.permission.as_deref(),
        decision: o.decision.as_str(),
        code: o.code,
        reason: o.reason,
        status: o.status,
        upstream: o.upstream.as_deref(),
        upstream_status: o.upstream_status,
        duration_us: u64::try_from(o.duration.as_micros()).unwrap_or(u64::MAX),
        idempotency_key: o.idempotency_key.as_deref(),
        replayed: o.replayed,
        truncated: o.truncated,
        response_complete: o.response_complete,
        fields_removed: o.fields_removed.as_deref().map(|f| FieldsRemovedLine {
            count: f.count,
            pointers: &f.pointers,
        }),
        schema_pointers: &o.schema_pointers,
        prev,
    })
    .unwrap_or_default()
}

fn text() -> impl Strategy<Value = String> {
    // Plain, quotes and backslashes, every control character, multi-byte UTF-8.
    prop_oneof![
        "[a-z0-9/_.-]{0,40}",
        "[\\x00-\\x1f\"\\\\a-z\\x7f]{0,24}",
        "\\PC{0,16}",
        ".{0,64}",
    ]
}

fn addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
        (any::<[u16; 8]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
    ]
}

fn when() -> impl Strategy<Value = SystemTime> {
    // 1970 to 9999 (humantime's range).
    (0u64..=253_402_300_799, 0u32..1_000_000_000)
        .prop_map(|(s, n)| UNIX_EPOCH + Duration::new(s, n))
}

fn opt(s: impl Strategy<Value = String>) -> impl Strategy<Value = Option<Arc<str>>> {
    proptest::option::of(s.prop_map(Arc::from))
}

prop_compose! {
    fn outcome()(
        (ts, request_id, partner, key_id, tier, issuer, kid) in (
            when(), text(), opt(text()), opt(text()), proptest::option::of(any::<u8>()),
            opt(text()), opt(text()),
        ),
        (client, method, path, query, route, permission) in (
            addr(), text(), text(), proptest::option::of(text()), opt(text()), opt(text()),
        ),
        (status, upstream, upstream_status, micros, idempotency_key) in (
            any::<u16>(), opt(text()), proptest::option::of(any::<u16>()), any::<u64>(),
            proptest::option::of(text()),
        ),
        (flags, removed, schema_pointers) in (
            any::<[bool; 5]>(),
            proptest::option::of((any::<usize>(), proptest::collection::vec(text(), 0..4))),
            proptest::collection::vec(text(), 0..3),
        ),
    ) -> Outcome {
        Outcome {
            ts,
            request_id,
            partner,
            key_id,
            tier,
            credential: [None, Some(Credential::Jwt), Some(Credential::ApiKeyHeader)]
                [usize::from(flags[3]) + usize::from(flags[4])],
            jwt_issuer: issuer,
            jwt_kid: kid,
            client,
            method,
            path,
            query,
            route,
            permission,
            decision: if flags[0] { Decision::Allow } else { Decision::Deny },
            code: flags[1].then_some("permission_denied"),
            reason: "permitted",
            status,
            upstream,
            upstream_status,
            duration: Duration::from_micros(micros),
            upstream_duration: None,
            idempotency_key,
            replayed: flags[0],
            truncated: flags[1],
            summarised: None,
            response_complete: flags[2],
            fields_removed: removed.map(|(count, pointers)| Box::new(FieldsRemoved {
                count,
                pointers,
                by_class: Vec::new(),
            })),
            schema_pointers,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_request_line_is_what_serde_json_writes(o in outcome(), seq in any::<u64>(), prev in text()) {
        let mut out = Vec::new();
        super::assemble(&mut out, seq, &prev, &super::request(&o));
        let want = reference(seq, &prev, &o);
        prop_assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(&want));
    }

    #[test]
    fn an_intent_line_is_what_serde_json_writes(o in outcome(), seq in any::<u64>(), prev in text()) {
        let i = Intent {
            request_id: o.request_id.clone(),
            partner: o.partner.clone().unwrap_or_else(|| "p".into()),
            key_id: o.key_id.clone().unwrap_or_else(|| "k".into()),
            route: o.route.clone().unwrap_or_else(|| "r".into()),
            permission: o.permission.clone().unwrap_or_else(|| "x".into()),
            method: o.method.clone(),
            path: o.path.clone(),
            client: o.client,
            ts: o.ts,
        };
        let ts = humantime(i.ts);
        let want = serde_json::to_vec(&IntentLine {
            seq,
            ts: &ts,
            kind: "intent",
            request_id: &i.request_id,
            partner: &i.partner,
            key_id: &i.key_id,
            client: i.client.to_string(),
            method: &i.method,
            path: &i.path,
            route: &i.route,
            permission: &i.permission,
            prev: &prev,
        })
        .unwrap_or_default();
        let mut out = Vec::new();
        super::assemble(&mut out, seq, &prev, &super::intent(&i));
        prop_assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(&want));
    }
}

#[test]
fn every_byte_escapes_as_serde_json_escapes_it() {
    for b in 0u8..=0x7f {
        let s = format!("ab{}cdefghijklmnop{}", b as char, b as char);
        let mut out = Vec::new();
        super::string(&mut out, &s);
        assert_eq!(
            out,
            serde_json::to_vec(&s).unwrap_or_default(),
            "byte {b:#x}"
        );
    }
}

#[test]
fn a_clock_out_of_range_is_clamped_not_a_panic() {
    let text = |t| String::from_utf8_lossy(&super::rfc3339_micros(t)).into_owned();
    assert_eq!(
        text(UNIX_EPOCH - Duration::from_secs(5)),
        "1970-01-01T00:00:00.000000Z"
    );
    assert_eq!(
        text(UNIX_EPOCH + Duration::from_secs(400_000_000_000)),
        "9999-12-31T23:59:59.999999Z"
    );
    assert_eq!(
        text(UNIX_EPOCH + Duration::new(951_782_400, 1_000)),
        "2000-02-29T00:00:00.000001Z"
    );
}
