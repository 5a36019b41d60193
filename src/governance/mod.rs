//! Governance: what each grant rests on (justification, approving bodies, ticket, review date),
//! each partner's risk and review date, and the misuse detector that suspends a partner after
//! repeated denials. Pure data and logic; the configuration builds it, the proxy and the admin
//! listener drive the detector.

pub mod approval;
pub mod diff;
pub mod misuse;
pub mod model;
pub mod sorted;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A governance body whose approval a widening change needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Body {
    /// Technical Steering Committee: API and technical impact.
    Tsc,
    /// Security and Compliance Office.
    Sco,
    /// Extension Review Committee: workflow and extension impact.
    Erc,
    /// Community Governance Board: the ecosystem; final authority.
    Cgb,
}

/// A partner's assessed risk.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    /// Low.
    #[default]
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
}

/// One grant and what it rests on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The permission.
    pub name: Arc<str>,
    /// Why the partner holds it.
    pub justification: Option<String>,
    /// The bodies that approved it.
    pub approved_by: Vec<Body>,
    /// The governance ticket.
    pub ticket: Option<String>,
    /// When it is next reviewed (else the partner's `review_due`).
    pub review_due: Option<SystemTime>,
}

/// A partner's governance facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerRecord {
    /// The partner id.
    pub id: Arc<str>,
    /// When the partner's grants are next reviewed.
    pub review_due: Option<SystemTime>,
    /// Its risk, when assessed.
    pub risk: Option<Risk>,
    /// Its grants, in configuration order.
    pub grants: Vec<Grant>,
    /// Why it is suspended, in `stage = "suspended"`.
    pub suspended_reason: Option<String>,
}

/// `[governance]`, compiled.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Every grant must carry its metadata.
    pub require_grant_metadata: bool,
    /// Widening changes need signed approvals.
    pub enforce_approvals: bool,
    /// Where approvals and the last approved configuration are kept.
    pub approvals_dir: Option<PathBuf>,
    /// Each body's Ed25519 public keys.
    pub bodies: BTreeMap<Body, Vec<[u8; 32]>>,
    /// Automatic suspension after repeated denials.
    pub misuse: Option<MisuseSettings>,
}

/// `[governance.misuse]`, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MisuseSettings {
    /// Denials within `window` that suspend.
    pub threshold: u32,
    /// The window.
    pub window: Duration,
    /// How long a suspension lasts.
    pub suspend_for: Duration,
    /// The error codes that count.
    pub codes: Vec<String>,
}

/// The four bodies, in their canonical order.
pub const BODIES: [Body; 4] = [Body::Tsc, Body::Sco, Body::Erc, Body::Cgb];

/// How soon a review counts as coming up (`check` warns).
pub const REVIEW_WARNING: Duration = Duration::from_secs(30 * 24 * 3600);

// === impl Body ===

impl Body {
    /// `TSC`, `SCO`, `ERC` or `CGB`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tsc => "TSC",
            Self::Sco => "SCO",
            Self::Erc => "ERC",
            Self::Cgb => "CGB",
        }
    }

    /// Parses a body's name.
    pub fn parse(s: &str) -> Option<Self> {
        BODIES.into_iter().find(|b| b.as_str() == s)
    }
}

// === impl Risk ===

impl Risk {
    /// `low`, `medium` or `high`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }

    /// Parses a risk.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Low, Self::Medium, Self::High]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

// === impl PartnerRecord ===

impl PartnerRecord {
    /// Each grant with the date it is reviewed by (its own, else the partner's).
    pub fn reviews(&self) -> impl Iterator<Item = (&Grant, Option<SystemTime>)> {
        self.grants
            .iter()
            .map(|g| (g, g.review_due.or(self.review_due)))
    }
}
