//! What does a response contract cost? Filtering a 16 KiB and a 256 KiB JSON body (one pass of
//! the strict lexer with the data-class and allow-list patterns, the removed members cut out)
//! against `serde_json::from_slice` of the same body — the target is at most 3×.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kwanus_gateway::contract::{
    DataClasses, FieldPattern, OUTSIDE_ALLOW_LIST, OnViolation, PatternSet, ResponseContract,
};

/// A report listing of about `bytes`: sections with text, some carrying `raw_text` and
/// `simulation` fields a partner may not receive.
fn body(bytes: usize) -> Vec<u8> {
    let mut sections = Vec::new();
    let mut i = 0;
    while serde_json::to_vec(&sections).map_or(0, |v| v.len()) < bytes {
        let mut s = serde_json::json!({
            "id": format!("s-{i}"),
            "heading": format!("Section {i}"),
            "text": "Grid load rose in the northern region during the reporting period.",
            "metrics": {"load_mw": 1200 + i, "delta": 0.04, "tags": ["grid", "north"]},
        });
        if i % 4 == 0 {
            s["raw_text"] = "unredacted source paragraph that partners never receive".into();
        }
        if i % 8 == 0 {
            s["simulation"] = serde_json::json!({"runs": 100, "seed": i});
        }
        sections.push(s);
        i += 1;
    }
    serde_json::to_vec(&serde_json::json!({"id": "42", "title": "Quarterly", "sections": sections}))
        .unwrap_or_default()
}

fn classes() -> Arc<DataClasses> {
    let mut c = DataClasses::default();
    for (name, fields, allowed) in [
        (
            "raw_report_text",
            &["/**/raw_report_text", "/**/raw_text"][..],
            &[][..],
        ),
        (
            "raw_parsed_items",
            &["/**/raw_parsed_items", "/**/parsed_items"][..],
            &[][..],
        ),
        (
            "simulation_data",
            &["/**/simulation", "/**/simulation_data"][..],
            &[][..],
        ),
        (
            "intelligence_data",
            &["/**/intelligence"][..],
            &["insights:query"][..],
        ),
    ] {
        let fields = fields
            .iter()
            .filter_map(|f| FieldPattern::parse(f).ok())
            .collect();
        c.push(
            name.into(),
            fields,
            allowed.iter().map(|a| Arc::from(*a)).collect(),
        );
    }
    Arc::new(c)
}

fn contract(allow: bool) -> ResponseContract {
    let allow_fields = allow.then(|| {
        let mut set = PatternSet::exact();
        for p in [
            "/id",
            "/title",
            "/sections/*/heading",
            "/sections/*/metrics",
        ] {
            if let Ok(p) = FieldPattern::parse(p) {
                set.push(p, OUTSIDE_ALLOW_LIST);
            }
        }
        set
    });
    ResponseContract {
        classes: classes(),
        content_types: vec!["application/json".into()],
        max_bytes: 1 << 20,
        allow_fields,
        on_violation: OnViolation::Strip,
    }
}

fn filter(c: &mut Criterion) {
    let strip = contract(false);
    let allow = contract(true);
    let holds = |_: &str| false;
    for size in [16 * 1024, 256 * 1024] {
        let doc = body(size);
        let clean = {
            let mut v: serde_json::Value = serde_json::from_slice(&doc).unwrap_or_default();
            strip.apply(&doc, &holds).ok();
            if let Some(s) = v["sections"].as_array_mut() {
                for s in s {
                    if let Some(o) = s.as_object_mut() {
                        o.remove("raw_text");
                        o.remove("simulation");
                    }
                }
            }
            serde_json::to_vec(&v).unwrap_or_default()
        };
        let mut g = c.benchmark_group(format!("contract_{}k", size / 1024));
        g.throughput(Throughput::Bytes(doc.len() as u64));
        g.bench_function("baseline_serde_json_from_slice", |b| {
            b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(&doc)))
        });
        g.bench_function("strip_classes", |b| {
            b.iter(|| strip.apply(black_box(&doc), &holds))
        });
        g.bench_function("nothing_to_remove", |b| {
            b.iter(|| strip.apply(black_box(&clean), &holds))
        });
        g.bench_function("strip_classes_and_allow_list", |b| {
            b.iter(|| allow.apply(black_box(&doc), &holds))
        });
        g.finish();
    }
}

criterion_group!(benches, filter);
criterion_main!(benches);
