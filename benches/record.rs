//! What does recording one finished request cost — the audit line (canonical serialisation
//! plus the chain hash, on the writer thread), the metrics update and the access-log-free
//! hand-off to every sink (on the worker) — against the SHA-256 of the key the request path
//! computes anyway?
#![allow(missing_docs)]

mod support;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use kwanus_gateway::audit::{self, Event};
use kwanus_gateway::auth;
use kwanus_gateway::metrics::Metrics;
use kwanus_gateway::outcome::{Decision, OutcomeSink};

fn record(c: &mut Criterion) {
    let key = "kwp_3nR8vQm2LxT5wZ9cB1dF4gH7jK0pS6yU";
    let o = support::outcome(42);
    let event = Event::request(&o);
    let mut g = c.benchmark_group("record");
    g.bench_function("baseline_sha256_of_key", |b| {
        b.iter(|| auth::digest(black_box(key.as_bytes())))
    });
    g.bench_function("audit_line_serialise_and_hash", |b| {
        let mut out = Vec::with_capacity(1024);
        let mut seq = 0;
        b.iter(|| {
            out.clear();
            seq += 1;
            audit::append_line(&mut out, seq, audit::GENESIS, black_box(&event))
        })
    });
    g.bench_function("audit_chain_hash_only", |b| {
        let mut out = Vec::with_capacity(1024);
        audit::append_line(&mut out, 1, audit::GENESIS, &event);
        b.iter(|| audit::chain_hash(audit::GENESIS, black_box(&out)))
    });
    g.bench_function("outcome_clone_for_the_writer", |b| {
        b.iter(|| Box::new(black_box(&o).clone()))
    });
    let metrics = Metrics::new(None);
    g.bench_function("metrics_record_allowed", |b| {
        b.iter(|| metrics.record(black_box(&o)))
    });
    let mut denied = support::outcome(42);
    denied.decision = Decision::Deny;
    denied.code = Some("permission_denied");
    denied.reason = "missing_permission";
    denied.status = 403;
    denied.upstream = None;
    denied.upstream_status = None;
    denied.upstream_duration = None;
    g.bench_function("metrics_record_denied", |b| {
        b.iter(|| metrics.record(black_box(&denied)))
    });
    g.finish();
}

criterion_group!(benches, record);
criterion_main!(benches);
