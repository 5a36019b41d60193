//! Signed approvals: a body signs the change from one configuration to another (a
//! domain-separated message over the SHA-256 of both canonical forms and of the diff), and a
//! change that widens access is accepted only with the signatures of a majority of the four
//! bodies, CGB among them.

use std::collections::{BTreeMap, BTreeSet};

use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::diff::Diff;
use super::model::Model;
use super::{BODIES, Body};

/// What every approval signature starts with, so it can never be mistaken for another
/// signature the same key makes (v2: the time it was signed is signed too; v1 signatures,
/// which had no time, are not accepted).
pub const DOMAIN: &[u8] = b"kwanus-gateway configuration approval v2\n";

/// How many of the four bodies make a majority.
pub const QUORUM: usize = 3;

/// One body's signature over one change, as stored in the approvals folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// `TSC`, `SCO`, `ERC` or `CGB`.
    pub body: String,
    /// The signer's Ed25519 public key (hex).
    pub public_key: String,
    /// SHA-256 of the old configuration's canonical form (zeros for the genesis).
    pub old_sha256: String,
    /// SHA-256 of the new configuration's canonical form.
    pub new_sha256: String,
    /// SHA-256 of the diff's canonical form.
    pub diff_sha256: String,
    /// The approvals folder's generation the change applies to (each accepted change raises
    /// it, so a signature is never good twice).
    pub generation: u64,
    /// The Ed25519 signature (hex) over `message`.
    pub signature: String,
    /// The change, for people reading the folder (not signed on its own: `diff_sha256` is).
    #[serde(default)]
    pub changes: Vec<String>,
    /// When it was signed (RFC 3339, UTC; signed with the rest). An approval without one
    /// (made before the time was recorded) is refused: sign it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_at: Option<String>,
}

/// One signature that made a change acceptable, as the trail records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signer {
    /// `TSC`, `SCO`, `ERC` or `CGB`.
    pub body: String,
    /// The signing key: the first 16 hex digits of the Ed25519 public key.
    pub key_id: String,
    /// When it was signed (RFC 3339, UTC).
    pub signed_at: String,
}

/// Whether a change may take effect, and what it lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The change widens access.
    pub needs_approval: bool,
    /// Bodies with a valid signature for exactly this change.
    pub approved_by: BTreeSet<Body>,
    /// The valid signatures, one per body (the first found).
    pub signers: Vec<Signer>,
    /// Signatures found that do not verify (named for the record).
    pub invalid: Vec<String>,
}

/// What a signature covers: the three hashes and the folder's generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subject {
    /// The approvals folder's generation (0 before the genesis).
    pub generation: u64,
    /// Old canonical SHA-256.
    pub old: [u8; 32],
    /// New canonical SHA-256.
    pub new: [u8; 32],
    /// Diff SHA-256.
    pub diff: [u8; 32],
}

// === impl Subject ===

impl Subject {
    /// The change from `old` (none: the genesis) to `new`, at the folder's `generation`.
    pub fn of(old: Option<&Model>, new: &Model, generation: u64) -> (Self, Diff) {
        let empty = Model::default();
        let diff = Diff::between(old.unwrap_or(&empty), new);
        let subject = Self {
            generation,
            old: old.map_or([0; 32], Model::sha256),
            new: new.sha256(),
            diff: diff.sha256(),
        };
        (subject, diff)
    }

    /// The message `body` signs: the body's name is part of it, so one key's signature can
    /// never be presented as another body's; so is the time it was signed.
    pub fn message(&self, body: Body, signed_at: &str) -> Vec<u8> {
        let mut m = DOMAIN.to_vec();
        m.extend_from_slice(body.as_str().as_bytes());
        m.push(b'\n');
        m.extend_from_slice(signed_at.as_bytes());
        m.push(b'\n');
        m.extend_from_slice(&self.generation.to_be_bytes());
        m.extend_from_slice(&self.old);
        m.extend_from_slice(&self.new);
        m.extend_from_slice(&self.diff);
        m
    }

    /// A body's approval of this change, signed now.
    pub fn sign(&self, body: Body, key: &SigningKey, diff: &Diff) -> Approval {
        let at = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        self.sign_at(body, key, diff, at)
    }

    /// A body's approval of this change, signed at `signed_at` (RFC 3339).
    pub fn sign_at(
        &self,
        body: Body,
        key: &SigningKey,
        diff: &Diff,
        signed_at: String,
    ) -> Approval {
        Approval {
            body: body.as_str().to_owned(),
            public_key: hex::encode(key.verifying_key().as_bytes()),
            old_sha256: hex::encode(self.old),
            new_sha256: hex::encode(self.new),
            diff_sha256: hex::encode(self.diff),
            generation: self.generation,
            signature: hex::encode(key.sign(&self.message(body, &signed_at)).to_bytes()),
            changes: diff.summary(64),
            signed_at: Some(signed_at),
        }
    }

    /// The bodies whose approvals in `found` are valid for this change under `keys` (the
    /// bodies' keys of the configuration being changed).
    pub fn verdict(
        &self,
        diff: &Diff,
        found: &[Approval],
        keys: &BTreeMap<Body, Vec<[u8; 32]>>,
    ) -> Verdict {
        let mut approved_by = BTreeSet::new();
        let mut signers = Vec::new();
        let mut invalid = Vec::new();
        let this = [
            hex::encode(self.old),
            hex::encode(self.new),
            hex::encode(self.diff),
        ];
        for a in found {
            if [&a.old_sha256, &a.new_sha256, &a.diff_sha256] != [&this[0], &this[1], &this[2]]
                || a.generation != self.generation
            {
                continue; // another change's approval, or this one's, already used
            }
            let Some(body) = Body::parse(&a.body) else {
                invalid.push(format!("{}: not a governance body", a.body));
                continue;
            };
            let trusted = keys
                .get(&body)
                .is_some_and(|ks| ks.iter().any(|k| hex::encode(k) == a.public_key));
            let checked = match a
                .signed_at
                .as_deref()
                .filter(|t| humantime::parse_rfc3339(t).is_ok())
            {
                None => Err("no signing time (an older version's approval): sign it again"),
                Some(_) if !trusted => Err("the key is not one of the body's keys"),
                Some(at) if !verify(&a.public_key, &a.signature, &self.message(body, at)) => {
                    Err("the signature does not verify")
                }
                Some(at) => Ok(at),
            };
            match checked {
                Ok(at) if approved_by.insert(body) => signers.push(Signer {
                    body: body.as_str().to_owned(),
                    key_id: a.public_key.chars().take(16).collect(),
                    signed_at: at.to_owned(),
                }),
                Ok(_) => {}
                Err(why) => invalid.push(format!("{}: {why}", a.body)),
            }
        }
        Verdict {
            needs_approval: diff.needing_approval().next().is_some(),
            approved_by,
            signers,
            invalid,
        }
    }
}

fn verify(public_hex: &str, signature_hex: &str, message: &[u8]) -> bool {
    let mut k = [0u8; 32];
    let mut s = [0u8; 64];
    if hex::decode_to_slice(public_hex, &mut k).is_err()
        || hex::decode_to_slice(signature_hex, &mut s).is_err()
    {
        return false;
    }
    VerifyingKey::from_bytes(&k)
        .is_ok_and(|key| key.verify(message, &Signature::from_bytes(&s)).is_ok())
}

// === impl Verdict ===

impl Verdict {
    /// Whether the change may take effect.
    pub fn accepted(&self) -> bool {
        !self.needs_approval
            || (self.approved_by.len() >= QUORUM && self.approved_by.contains(&Body::Cgb))
    }

    /// What is missing, for people: `CGB` first when it has not signed, then how many more.
    pub fn missing(&self) -> String {
        if self.accepted() {
            return "nothing".into();
        }
        let mut parts = Vec::new();
        if !self.approved_by.contains(&Body::Cgb) {
            parts.push("CGB (final authority, always required)".to_owned());
        }
        let have = self.approved_by.len() + usize::from(!self.approved_by.contains(&Body::Cgb));
        if have < QUORUM {
            let others: Vec<&str> = BODIES
                .iter()
                .filter(|b| **b != Body::Cgb && !self.approved_by.contains(b))
                .map(|b| b.as_str())
                .collect();
            parts.push(format!(
                "{} more of {} (a majority of the four bodies)",
                QUORUM - have,
                others.join(", ")
            ));
        }
        let approved: Vec<&str> = self.approved_by.iter().map(|b| b.as_str()).collect();
        format!(
            "approvals missing: {}; approved so far by: {}",
            parts.join(" and "),
            if approved.is_empty() {
                "nobody".into()
            } else {
                approved.join(", ")
            }
        )
    }
}

/// The bodies' keys as written in a model (hex), decoded.
pub fn keys_of(model: &Model) -> BTreeMap<Body, Vec<[u8; 32]>> {
    model
        .governance
        .bodies
        .iter()
        .filter_map(|(b, ks)| {
            let body = Body::parse(b)?;
            let keys = ks
                .iter()
                .filter_map(|k| {
                    let mut out = [0u8; 32];
                    hex::decode_to_slice(k, &mut out).ok().map(|()| out)
                })
                .collect();
            Some((body, keys))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn a_majority_with_cgb_accepts_and_nothing_else_does() {
        let old = Model::default();
        let mut new = Model::default();
        new.partners.insert("acme".into(), Default::default());
        let (subject, diff) = Subject::of(Some(&old), &new, 3);
        let keys: BTreeMap<Body, Vec<[u8; 32]>> = BODIES
            .iter()
            .enumerate()
            .map(|(i, b)| (*b, vec![*key(i as u8 + 1).verifying_key().as_bytes()]))
            .collect();
        let sig = |i: usize| subject.sign(BODIES[i], &key(i as u8 + 1), &diff);
        let v = |found: &[Approval]| subject.verdict(&diff, found, &keys);
        assert!(v(&[sig(0), sig(1), sig(3)]).accepted(), "TSC, SCO, CGB");
        assert!(!v(&[sig(0), sig(1), sig(2)]).accepted(), "no CGB");
        assert!(!v(&[sig(1), sig(3)]).accepted(), "a minority");
        let mut forged = sig(2);
        forged.body = "CGB".into();
        let verdict = v(&[sig(0), sig(1), forged]);
        assert!(!verdict.accepted(), "ERC's key is not CGB's");
        assert_eq!(verdict.invalid.len(), 1);
        // A reduction needs nobody.
        let (back, diff) = Subject::of(Some(&new), &old, 4);
        assert!(back.verdict(&diff, &[], &keys).accepted());
    }

    fn all_keys() -> BTreeMap<Body, Vec<[u8; 32]>> {
        BODIES
            .iter()
            .enumerate()
            .map(|(i, b)| (*b, vec![*key(i as u8 + 1).verifying_key().as_bytes()]))
            .collect()
    }

    #[test]
    fn a_signature_binds_its_change_and_edited_hashes_do_not_move_it_to_another() {
        let old = Model::default();
        let mut harmless = Model::default();
        harmless.forbidden.insert("/legacy".into());
        let mut widening = Model::default();
        widening.partners.insert("rogue".into(), Default::default());
        let (approved, approved_diff) = Subject::of(Some(&old), &harmless, 3);
        let (wanted, wanted_diff) = Subject::of(Some(&old), &widening, 3);
        let keys = all_keys();
        // The quorum signed the harmless change; the records are edited to name the other.
        let moved: Vec<Approval> = [0usize, 1, 3]
            .iter()
            .map(|i| {
                let mut a = approved.sign(BODIES[*i], &key(*i as u8 + 1), &approved_diff);
                a.new_sha256 = hex::encode(wanted.new);
                a.diff_sha256 = hex::encode(wanted.diff);
                a
            })
            .collect();
        let verdict = wanted.verdict(&wanted_diff, &moved, &keys);
        assert!(!verdict.accepted(), "{verdict:?}");
        assert!(verdict.approved_by.is_empty());
        assert_eq!(verdict.invalid.len(), 3, "{:?}", verdict.invalid);
        // Unedited, they approve what they signed.
        let signed: Vec<Approval> = [0usize, 1, 3]
            .iter()
            .map(|i| approved.sign(BODIES[*i], &key(*i as u8 + 1), &approved_diff))
            .collect();
        assert!(
            approved
                .verdict(&approved_diff, &signed, &keys)
                .approved_by
                .len()
                == 3
        );
    }

    #[test]
    fn a_bodys_signature_cannot_be_presented_under_another_bodys_name() {
        let old = Model::default();
        let mut new = Model::default();
        new.partners.insert("acme".into(), Default::default());
        let (subject, diff) = Subject::of(Some(&old), &new, 1);
        // Even where one key were trusted for two bodies, its signature names its body.
        let mut keys = all_keys();
        let shared = *key(9).verifying_key().as_bytes();
        keys.insert(Body::Tsc, vec![shared]);
        keys.insert(Body::Cgb, vec![shared]);
        let as_tsc = subject.sign(Body::Tsc, &key(9), &diff);
        let mut relabelled = as_tsc.clone();
        relabelled.body = "CGB".into();
        let sco = subject.sign(Body::Sco, &key(2), &diff);
        let verdict = subject.verdict(&diff, &[as_tsc, relabelled, sco], &keys);
        assert_eq!(
            verdict.approved_by,
            BTreeSet::from([Body::Tsc, Body::Sco]),
            "{verdict:?}"
        );
        assert!(!verdict.accepted());
        assert_eq!(verdict.invalid, ["CGB: the signature does not verify"]);
    }

    #[test]
    fn the_time_signed_is_signed_and_recorded_and_an_approval_without_one_is_refused() {
        let mut new = Model::default();
        new.partners.insert("acme".into(), Default::default());
        let (subject, diff) = Subject::of(Some(&Model::default()), &new, 1);
        let keys = all_keys();
        let at = "2026-12-01T09:30:00Z".to_owned();
        let good = subject.sign_at(Body::Tsc, &key(1), &diff, at.clone());
        let verdict = subject.verdict(&diff, std::slice::from_ref(&good), &keys);
        assert_eq!(
            verdict.signers,
            [Signer {
                body: "TSC".into(),
                key_id: hex::encode(key(1).verifying_key().as_bytes())[..16].to_owned(),
                signed_at: at,
            }]
        );
        let mut backdated = good.clone();
        backdated.signed_at = Some("2026-11-01T09:30:00Z".into());
        let mut untimed = good.clone();
        untimed.signed_at = None;
        let mut garbled = good;
        garbled.signed_at = Some("yesterday".into());
        let verdict = subject.verdict(&diff, &[backdated, untimed, garbled], &keys);
        assert!(verdict.approved_by.is_empty() && verdict.signers.is_empty());
        assert_eq!(
            verdict.invalid,
            [
                "TSC: the signature does not verify",
                "TSC: no signing time (an older version's approval): sign it again",
                "TSC: no signing time (an older version's approval): sign it again",
            ]
        );
    }
}
