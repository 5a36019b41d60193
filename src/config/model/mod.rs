//! The governance view of a parsed configuration file (`governance::model::Model`), built from
//! the file's own types so that an old approved copy yields its model without reading the files
//! it names.
//!
//! Exhaustive by construction: every file struct is destructured without `..`, and every field
//! is handed to `gov` (it is in the view: a change that weakens it needs the quorum) or to `op`
//! (operational, named with why). A field added to the file does not compile until someone
//! decides which, and `config/tests/governed.rs` checks each field of the table with a change.

use std::collections::BTreeSet;

use super::file;
use crate::governance::model::{ClassModel, Date, Model, PermissionKind, Setting, Wider};

mod files;
mod oversight;
mod parties;
mod sections;

pub(crate) use files::FilePaths;
pub(super) use files::{add_file_hashes, carry_unread, file_paths};
use oversight::governance_view;
use parties::{issuer_view, partner_view, route_view, upstream_view};
use sections::{admin_view, audit_view, identity_view, limits_view, server_view, state_view};

/// Where each field of the file went, by path (`routes[].idempotency`).
#[derive(Debug, Default)]
pub struct Fields {
    /// In the governance view.
    pub governed: BTreeSet<&'static str>,
    /// Operational: changing it gives no partner more, and weakens no safeguard.
    pub operational: BTreeSet<&'static str>,
}

/// The model of configuration text; `Err` when it does not parse.
pub fn of_text(text: &str) -> Result<Model, String> {
    let f: file::File = toml::from_str(text).map_err(|e| e.to_string())?;
    Ok(of(&f))
}

/// The model of a parsed file.
pub(super) fn of(f: &file::File) -> Model {
    build(f, &mut Fields::default())
}

/// The model of configuration text, and where each field went (for the table test).
pub fn classify(text: &str) -> Result<(Model, Fields), String> {
    let f: file::File = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut fields = Fields::default();
    let model = build(&f, &mut fields);
    Ok((model, fields))
}

/// Builds the view, recording each field's classification in `t`.
fn build(f: &file::File, t: &mut Fields) -> Model {
    let file::File {
        forbidden,
        forbidden_segments,
        server,
        admin,
        limits,
        audit,
        tiers,
        permissions,
        upstreams,
        routes,
        data_classes,
        partners,
        auth,
        identity,
        state,
        governance,
    } = f;
    let mut m = Model::default();
    // The built-in entries, and the file's, which add to them.
    let lower = |v: &Option<Vec<String>>, built_in: &[&str]| -> BTreeSet<String> {
        let file = v.iter().flatten().map(|s| s.to_ascii_lowercase());
        built_in
            .iter()
            .map(|s| (*s).to_owned())
            .chain(file)
            .collect()
    };
    m.forbidden = lower(gov(t, "forbidden", forbidden), &super::defaults::FORBIDDEN);
    m.forbidden_segments = lower(
        gov(t, "forbidden_segments", forbidden_segments),
        &super::defaults::FORBIDDEN_SEGMENTS,
    );
    server_view(&mut m, t, server);
    admin_view(&mut m, t, admin.as_ref());
    limits_view(&mut m, t, limits);
    audit_view(&mut m, t, audit.as_ref());
    for (tier, tier_file) in tiers {
        let file::Tier {
            rate_per_second,
            burst,
        } = tier_file;
        set(
            &mut m,
            format!("tiers.{tier}.rate_per_second"),
            gov(t, "tiers.*.rate_per_second", rate_per_second).map(|r| r.to_string()),
            Wider::Higher,
        );
        // Unset is one second's worth, not unlimited: any change counts.
        set(
            &mut m,
            format!("tiers.{tier}.burst"),
            gov(t, "tiers.*.burst", burst).map(|b| b.to_string()),
            Wider::Any,
        );
    }
    for (name, p) in permissions {
        let file::Permission { kind, description } = p;
        op(t, "permissions.*.description", description); // for people
        if let Some(kind) = PermissionKind::parse(gov(t, "permissions.*.kind", kind)) {
            m.permissions.insert(name.clone(), kind);
        }
    }
    for u in upstreams {
        upstream_view(&mut m, t, u);
    }
    for r in routes {
        route_view(&mut m, t, r, limits.max_request_body_bytes);
    }
    for c in data_classes {
        let file::DataClass {
            name,
            fields,
            allowed_for,
        } = c;
        let class = ClassModel {
            fields: gov(t, "data_classes[].fields", fields)
                .iter()
                .cloned()
                .collect(),
            allowed_for: gov(t, "data_classes[].allowed_for", allowed_for)
                .iter()
                .cloned()
                .collect(),
        };
        m.data_classes
            .insert(gov(t, "data_classes[].name", name).clone(), class);
    }
    for p in partners {
        partner_view(&mut m, t, p);
    }
    let file::AuthSection { jwt } = auth;
    for j in jwt {
        issuer_view(&mut m, t, j);
    }
    identity_view(&mut m, t, identity.as_ref());
    state_view(&mut m, t, state.as_ref());
    governance_view(&mut m, t, governance.as_ref());
    m
}

/// Records `path` as governed and hands the value on.
pub(super) fn gov<'v, V: ?Sized>(t: &mut Fields, path: &'static str, value: &'v V) -> &'v V {
    t.governed.insert(path);
    value
}

/// Records `path` as operational: the value never enters the view.
pub(super) fn op<V: ?Sized>(t: &mut Fields, path: &'static str, _value: &V) {
    t.operational.insert(path);
}

pub(super) fn set(m: &mut Model, name: String, value: Option<String>, wider: Wider) {
    m.settings.insert(name, Setting { value, wider });
}

pub(super) fn note(m: &mut Model, name: String, value: Option<&str>) {
    if let Some(v) = value {
        m.notes.insert(name, v.to_owned());
    }
}

pub(super) fn ranked(order: &[&str]) -> Wider {
    Wider::Ranked(order.iter().map(|s| (*s).to_owned()).collect())
}

/// A duration as seconds (`"1.5"`), or as written when it does not parse.
pub(super) fn secs(d: &str) -> String {
    humantime::parse_duration(d)
        .map(|d| d.as_secs_f64().to_string())
        .unwrap_or_else(|_| d.to_owned())
}

/// A list whose order means nothing, sorted (so reordering it is no change).
pub(super) fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v
}

pub(super) fn flag(b: bool) -> String {
    b.to_string()
}

/// A date as a point in time; `None` when it does not parse (refused at load).
pub(super) fn date(text: &str) -> Option<Date> {
    super::validate::parse_date(text).map(Date)
}
