//! What does the gateway's own per-request logic cost — normalise, authenticate, route,
//! decide — and how does each phase compare with the SHA-256 of the key it must compute anyway?
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::SystemTime;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, Method};
use kwanus_gateway::config::{self, Overrides};
use kwanus_gateway::normalize::normalize_path;
use kwanus_gateway::policy::{self, Facts};
use kwanus_gateway::{auth, demo};

fn hot_path(c: &mut Criterion) {
    let snap = config::from_str(demo::DEMO_CONFIG, &Overrides::default()).expect("demo config");
    let mut headers = HeaderMap::new();
    let key = demo::DEMO_KEYS[0].1;
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {key}")).expect("header"),
    );
    headers.insert("accept", HeaderValue::from_static("application/json"));

    let mut g = c.benchmark_group("hot_path");
    g.bench_function("baseline_sha256_of_key", |b| {
        b.iter(|| auth::digest(black_box(key.as_bytes())))
    });
    g.bench_function("normalize_clean", |b| {
        b.iter(|| normalize_path(black_box("/v1/reports/42")))
    });
    g.bench_function("normalize_messy", |b| {
        b.iter(|| normalize_path(black_box("//v1/./x/../%72eports//%34%32")))
    });
    g.bench_function("authenticate", |b| {
        b.iter(|| {
            auth::authenticate(
                snap.credentials(),
                black_box(&headers),
                SystemTime::now(),
                None,
            )
        })
    });
    g.bench_function("route_find", |b| {
        b.iter(|| snap.routes.find(&Method::GET, black_box("/v1/reports/42")))
    });
    let principal = auth::authenticate(snap.credentials(), &headers, SystemTime::now(), None)
        .expect("demo key");
    let route = snap
        .routes
        .find(&Method::GET, "/v1/reports/42")
        .expect("route")
        .clone();
    g.bench_function("decide", |b| {
        b.iter(|| policy::decide(black_box(&principal), &route, &Facts::now()))
    });
    g.bench_function("all_phases", |b| {
        b.iter(|| {
            let path = normalize_path(black_box("/v1/reports/42")).expect("path");
            let forbidden = snap.forbidden_prefix(&path).is_some();
            let p = auth::authenticate(snap.credentials(), &headers, SystemTime::now(), None)
                .expect("key");
            let r = snap
                .routes
                .find(&Method::GET, path.as_str())
                .expect("route");
            (forbidden, policy::decide(&p, r, &Facts::now()).is_ok())
        })
    });
    g.finish();
}

criterion_group!(benches, hot_path);
criterion_main!(benches);
