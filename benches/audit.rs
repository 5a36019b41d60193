//! What does the audit trail cost? Requests/s through the real gateway with `strict` (group
//! commit + fdatasync) against `buffered` durability, and how many records/s `audit verify`
//! checks — enough for a day of traffic?
#![allow(missing_docs)]

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use kwanus_gateway::app::App;
use kwanus_gateway::audit::{self, AuditSink, Event};
use kwanus_gateway::config::{self, Overrides};
use kwanus_gateway::outcome::Outcome;
use kwanus_gateway::snapshot::{AuditSettings, Durability};
use kwanus_gateway::{demo, outcome};

/// Concurrent requests per measured batch.
const CONCURRENCY: usize = 64;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kwanus-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn gateway(rt: &tokio::runtime::Runtime, durability: &str, dir: &Path) -> App {
    rt.block_on(async {
        let upstream = demo::start_sample_upstream().await.expect("upstream");
        let text = format!(
            "{}\n[audit]\ndir = {:?}\ndurability = {durability:?}\n",
            demo::DEMO_CONFIG,
            dir.display().to_string()
        );
        let overrides = Overrides {
            listen: Some("127.0.0.1:0".parse().expect("addr")),
            upstream_url: Some(format!("http://{upstream}")),
            demo: true,
        };
        let snap = config::from_str_in(&text, &overrides, Some(std::path::Path::new("config")))
            .expect("config");
        // The access log is left out: this measures the audit trail, not stderr.
        struct Quiet;
        impl outcome::OutcomeSink for Quiet {
            fn record(&self, _: &Outcome) -> outcome::Recorded {
                outcome::Recorded::Done
            }
        }
        App::start(snap, Arc::new(Quiet)).await.expect("gateway")
    })
}

fn requests(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(CONCURRENCY)
        .build_http::<Empty<Bytes>>();
    let key = demo::DEMO_KEYS[0].1;
    let mut g = c.benchmark_group("audit_requests");
    g.throughput(Throughput::Elements(CONCURRENCY as u64));
    g.sample_size(30);
    for durability in ["buffered", "strict"] {
        let dir = scratch(durability);
        let app = gateway(&rt, durability, &dir);
        let url = format!("http://{}/v1/reports/42", app.addr());
        g.bench_function(durability, |b| {
            b.iter(|| {
                rt.block_on(async {
                    let mut tasks = Vec::with_capacity(CONCURRENCY);
                    for _ in 0..CONCURRENCY {
                        let req = http::Request::get(&url)
                            .header("authorization", format!("Bearer {key}"))
                            .body(Empty::new())
                            .expect("request");
                        let client = client.clone();
                        tasks.push(tokio::spawn(async move {
                            let rsp = client.request(req).await.expect("response");
                            assert_eq!(rsp.status(), 200);
                            rsp.into_body().collect().await.expect("body");
                        }));
                    }
                    for t in tasks {
                        t.await.expect("join");
                    }
                })
            })
        });
        rt.block_on(app.shutdown());
    }
    g.finish();
}

fn verify(c: &mut Criterion) {
    const RECORDS: u64 = 20_000;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = scratch("verify");
    let settings = AuditSettings {
        dir: dir.clone(),
        durability: Durability::Buffered,
        flush_interval: Duration::from_millis(100),
        rotate_bytes: 100 * 1024 * 1024,
        retention_days: 400,
        signing_key: None,
        checkpoint_every: 1000,
        checkpoint_interval: Duration::from_secs(10),
        witness_dir: None,
    };
    let sink = AuditSink::start(&settings).expect("audit");
    for i in 0..RECORDS {
        let outcome = support::outcome(i);
        while matches!(
            sink.submit(Event::request(&outcome)),
            outcome::Recorded::Refused
        ) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    rt.block_on(sink.shutdown());
    let mut g = c.benchmark_group("audit_verify");
    g.throughput(Throughput::Elements(RECORDS));
    g.sample_size(10);
    g.bench_function("verify_20k_records", |b| {
        b.iter(|| {
            let r = audit::verify(std::slice::from_ref(&dir), None).expect("verifies");
            assert_eq!(r.records, RECORDS);
        })
    });
    g.finish();
}

criterion_group!(benches, requests, verify);
criterion_main!(benches);
