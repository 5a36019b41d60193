//! `[[partners]]`: identity, tier, stage, exact permissions, keys, certificate binding and rates.

use super::lifecycle::{Lifecycle, check_migration_url, compile_stage};
use super::registry::check_permission_name;
use super::*;
use crate::model::FastHash;

/// A field of `partners[partner]` (of its `keys[key]` when set), written out only for a
/// problem: ten thousand partners need not format their places.
#[derive(Debug, Clone, Copy)]
struct At {
    partner: usize,
    key: Option<usize>,
    field: &'static str,
}

impl At {
    fn partner(partner: usize, field: &'static str) -> Self {
        Self {
            partner,
            key: None,
            field,
        }
    }

    fn key(partner: usize, key: usize, field: &'static str) -> Self {
        Self {
            partner,
            key: Some(key),
            field,
        }
    }
}

impl std::fmt::Display for At {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "partners[{}]", self.partner)?;
        if let Some(k) = self.key {
            write!(f, ".keys[{k}]")?;
        }
        write!(f, ".{}", self.field)
    }
}

/// `{base}.{list}[{index}]`, written out only for a problem.
#[derive(Debug, Clone, Copy)]
struct Listed<'a>(&'a str, &'static str, usize);

impl std::fmt::Display for Listed<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}[{}]", self.0, self.1, self.2)
    }
}

/// What the partners compile to: the runtime partners, their keys, and their governance facts.
pub(super) struct Compiled {
    pub(super) partners: Vec<Arc<Partner>>,
    pub(super) keys: KeyStore,
    pub(super) records: Vec<crate::governance::PartnerRecord>,
}

/// What the rest of the file decides for every partner.
pub(super) struct PartnerRules {
    /// `[governance] require_grant_metadata`, its default applied.
    pub(super) require_grant_metadata: bool,
    /// The published demo keys load (only in `demo`).
    pub(super) demo_keys_allowed: bool,
}

pub(super) fn compile_partners(
    p: &mut Problems,
    partners: Vec<file::Partner>,
    permissions: &BTreeMap<Arc<str>, PermissionKind>,
    client_auth: bool,
    issuers: &Issuers,
    tiers: &BTreeMap<Tier, RateSettings>,
    rules: PartnerRules,
) -> Compiled {
    let PartnerRules {
        require_grant_metadata,
        demo_keys_allowed,
    } = rules;
    let mut ids = HashMap::with_hasher(FastHash::default());
    let mut key_ids = HashMap::with_hasher(FastHash::default());
    let mut key_hashes = HashMap::with_hasher(FastHash::default());
    // Sized once: ten thousand partners grow these (and leave their slack) otherwise.
    let mut pending = Vec::with_capacity(partners.len() * 2);
    let mut out = Vec::with_capacity(partners.len());
    let mut records = Vec::with_capacity(partners.len());
    for (i, partner) in partners.into_iter().enumerate() {
        let place = format!("partners[{i}]");
        let file::Partner {
            id,
            tier,
            stage,
            sunset,
            deprecated_since,
            migration_url,
            compliance_due,
            suspended_reason,
            suspended_until,
            review_due,
            risk,
            permissions: held,
            keys,
            client_cert_sha256,
            require_mtls,
            jwt_issuers,
            rate_per_second,
            burst,
        } = partner;
        let partner_id = id.clone();
        check_rate(p, &place, rate_per_second, burst);
        let mut issuers_ok = true;
        for (j, iss) in jwt_issuers.iter().enumerate() {
            if !issuers.contains(iss) {
                p.bad(
                    format!("{place}.jwt_issuers[{j}]"),
                    iss,
                    "not an issuer of [[auth.jwt]]; configure it there first",
                );
                issuers_ok = false;
            }
        }
        let mut mtls_ok = true;
        let client_certs: Vec<_> = client_cert_sha256
            .iter()
            .enumerate()
            .filter_map(|(j, c)| p.sha256(Listed(&place, "client_cert_sha256", j), c))
            .collect();
        if require_mtls && !client_auth {
            p.bad(
                format!("{place}.require_mtls"),
                "true",
                "needs client certificates: set server.tls.client_ca",
            );
            mtls_ok = false;
        }
        if require_mtls && client_cert_sha256.is_empty() {
            p.bad(
                format!("{place}.require_mtls"),
                "true",
                "list the bound certificates in client_cert_sha256",
            );
            mtls_ok = false;
        }
        let mut ok =
            p.unique(&mut ids, "partner id", &id, At::partner(i, "id")) && mtls_ok && issuers_ok;
        if !crate::config::is_valid_id(&id) {
            p.bad(
                format!("{place}.id"),
                &id,
                "partner ids are non-empty and use only letters, digits, '_', '.' and '-'",
            );
            ok = false;
        }
        let raw_tier = tier;
        let tier = Tier::new(raw_tier);
        if tier.is_none() {
            p.push(
                format!("{place}.tier"),
                ProblemKind::NotOneOf {
                    value: raw_tier.to_string(),
                    expected: "1, 2, 3",
                },
            );
        }
        let lifecycle = Lifecycle {
            stage,
            sunset,
            deprecated_since,
            compliance_due,
            suspended_reason: suspended_reason.clone(),
            suspended_until,
        };
        let stage = compile_stage(p, &place, lifecycle);
        let migration_url = migration_url.filter(|u| check_migration_url(p, &place, u));
        let names: Vec<String> = held.iter().map(|g| g.name().to_owned()).collect();
        let grants = super::governance::compile_grants(p, &place, &held, require_grant_metadata);
        let review_due = review_due.and_then(|d| p.date(&format!("{place}.review_due"), &d));
        let risk = risk.and_then(|r| {
            let parsed = crate::governance::Risk::parse(&r);
            if parsed.is_none() {
                p.push(
                    format!("{place}.risk"),
                    ProblemKind::NotOneOf {
                        value: r.clone(),
                        expected: "\"low\", \"medium\", \"high\"",
                    },
                );
            }
            parsed
        });
        records.push(crate::governance::PartnerRecord {
            id: id.as_str().into(),
            review_due,
            risk,
            grants,
            suspended_reason,
        });
        let held = compile_held(p, &place, &names, permissions, tier);
        // Keys are checked even when the partner is not valid, so every problem is listed.
        let partner = match (tier, stage, held, ok) {
            (Some(tier), Some(stage), Some(held), true) => Some(Arc::new(Partner {
                headers: [
                    crate::auth::header_value(&id),
                    crate::auth::header_value(&tier.get().to_string()),
                ],
                id: id.into(),
                tier,
                stage,
                permissions: held,
                client_certs,
                require_mtls,
                jwt_issuers: jwt_issuers.iter().map(|i| Arc::from(i.as_str())).collect(),
                rate: resolve_rate(tiers.get(&tier), rate_per_second, burst),
                migration_url: migration_url.map(Arc::from),
            })),
            _ => None,
        };
        for (k, key) in keys.into_iter().enumerate() {
            let at = |field| At::key(i, k, field);
            let file::Key {
                id,
                sha256,
                expires,
                revoked,
            } = key;
            let mut id_ok = p.unique(&mut key_ids, "key id", &id, at("id"));
            if !crate::config::is_valid_id(&id) {
                p.bad(
                    at("id").to_string(),
                    &id,
                    "key ids use only letters, digits, '_', '.' and '-'",
                );
                id_ok = false;
            }
            let mut digest = p.sha256(at("sha256"), &sha256);
            if let Some(public) = digest
                .as_ref()
                .and_then(crate::keygen::public_demo_key)
                .filter(|_| !demo_keys_allowed)
            {
                p.bad(
                    at("sha256").to_string(),
                    &sha256,
                    format!(
                        "partner {partner_id:?} would be reachable with the published demo key {public:?} (anyone has it); make a key with `kwanus-gateway keygen --partner {partner_id}` and put its sha256 here"
                    ),
                );
                digest = None;
            }
            let hash_ok = p.unique(
                &mut key_hashes,
                "key sha256",
                &sha256.to_ascii_lowercase(),
                at("sha256"),
            );
            let expires = match expires {
                Some(e) => p.timestamp(&at("expires").to_string(), &e).map(Some),
                None => Some(None),
            };
            if let (Some(partner), Some(digest), Some(expires), true, true) =
                (&partner, digest, expires, id_ok, hash_ok)
            {
                pending.push((
                    digest,
                    KeyEntry {
                        partner: partner.clone(),
                        key_id: id.into(),
                        expires,
                        revoked,
                    },
                ));
            }
        }
        out.extend(partner);
    }
    let mut store = KeyStore::default();
    for (digest, entry) in pending {
        // Duplicates were reported above by their hex spelling.
        let _ = store.insert(digest, entry);
    }
    Compiled {
        partners: out,
        keys: store,
        records,
    }
}

/// A partner's permissions: declared, exact, unique and within its tier's ceiling.
pub(super) fn compile_held(
    p: &mut Problems,
    place: &str,
    held: &[String],
    registry: &BTreeMap<Arc<str>, PermissionKind>,
    tier: Option<Tier>,
) -> Option<HashSet<Arc<str>, crate::model::FastHash>> {
    let mut out = HashSet::default();
    let mut seen = HashMap::with_hasher(FastHash::default());
    let before = p.0.len();
    for (j, perm) in held.iter().enumerate() {
        let pplace = Listed(place, "permissions", j);
        if !check_permission_name(p, pplace, perm) {
            continue;
        }
        if !p.unique(&mut seen, "permission", perm, pplace) {
            continue;
        }
        let Some((name, kind)) = registry.get_key_value(perm.as_str()) else {
            p.push(
                pplace.to_string(),
                ProblemKind::UnknownPermission(perm.clone()),
            );
            continue;
        };
        if let Some(tier) = tier.filter(|t| !t.allows(*kind)) {
            p.push(
                pplace.to_string(),
                ProblemKind::AboveTierCeiling {
                    permission: perm.clone(),
                    kind: kind.as_str().to_owned(),
                    tier: tier.get(),
                    ceiling: tier.ceiling().to_owned(),
                },
            );
            continue;
        }
        out.insert(name.clone());
    }
    (p.0.len() == before).then_some(out)
}

/// A partner's rate: its own fields over its tier's; burst defaults to one second's worth.
pub(super) fn resolve_rate(
    tier: Option<&RateSettings>,
    rate: Option<f64>,
    burst: Option<u32>,
) -> Option<crate::state::Rate> {
    let per_second = rate.or(tier.and_then(|t| t.rate_per_second))?;
    if !(per_second.is_finite() && per_second > 0.0) {
        return None;
    }
    let burst = burst
        .or(tier.and_then(|t| t.burst))
        .unwrap_or_else(|| per_second.ceil() as u32)
        .max(1);
    Some(crate::state::Rate { per_second, burst })
}
