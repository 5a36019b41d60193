//! The safeguards a configuration can turn off — each only where the file says why, or by
//! leaving out what it needs — and what is off in one snapshot. `check` warns about each,
//! `serve` logs each at every start and reload, `/admin/status` lists them, and the gauge
//! `kwanus_gateway_safeguard_disabled{safeguard}` (alert `KwanusGatewaySafeguardDisabled`)
//! keeps them in sight.

use crate::policy::PermissionKind;
use crate::routes::Idempotency;
use crate::snapshot::Snapshot;

/// One safeguard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Safeguard {
    /// Widening changes need the bodies' signatures (`[governance] enforce_approvals`).
    Approvals,
    /// Every grant says why, who approved it and when it is reviewed.
    GrantMetadata,
    /// Answers are filtered by the data classes (no `passthrough` route).
    ResponseContracts,
    /// The admin API has a token (`admin.token_sha256`).
    AdminToken,
    /// Every request is recorded (`[audit]`; off only with `enabled = false`).
    Audit,
    /// Audit checkpoints are signed (`audit.signing_key`).
    AuditSigningKey,
    /// Every route is versioned (`server.require_versioned_routes`).
    VersionedRoutes,
    /// Workflow triggers are idempotent.
    WorkflowIdempotency,
    /// No route binds a whole subtree (`catch_all`).
    NoCatchAll,
    /// No upstream is a database port (`allow_database_port`).
    NoDatabasePorts,
}

/// Every safeguard, in the order they are listed.
pub const ALL: [Safeguard; 10] = [
    Safeguard::Approvals,
    Safeguard::GrantMetadata,
    Safeguard::ResponseContracts,
    Safeguard::AdminToken,
    Safeguard::Audit,
    Safeguard::AuditSigningKey,
    Safeguard::VersionedRoutes,
    Safeguard::WorkflowIdempotency,
    Safeguard::NoCatchAll,
    Safeguard::NoDatabasePorts,
];

/// One safeguard's state in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The safeguard.
    pub safeguard: Safeguard,
    /// Why it is off (what the file says, or what it lacks); `None` when it is on.
    pub off: Option<String>,
}

// === impl Safeguard ===

impl Safeguard {
    /// The name in warnings, `/admin/status` and the gauge's label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approvals => "approvals",
            Self::GrantMetadata => "grant_metadata",
            Self::ResponseContracts => "response_contracts",
            Self::AdminToken => "admin_token",
            Self::Audit => "audit",
            Self::AuditSigningKey => "audit_signing_key",
            Self::VersionedRoutes => "versioned_routes",
            Self::WorkflowIdempotency => "workflow_idempotency",
            Self::NoCatchAll => "no_catch_all",
            Self::NoDatabasePorts => "no_database_ports",
        }
    }

    /// Why it is off in `snap`, if it is.
    fn off_in(self, snap: &Snapshot) -> Option<String> {
        let model = &snap.model;
        let note = |name: String| model.notes.get(&name).cloned().unwrap_or_default();
        let list = |items: Vec<String>| (!items.is_empty()).then(|| items.join("; "));
        match self {
            Self::Approvals => match (&snap.governance, model.governance.bodies.is_empty()) {
                (g, _) if g.enforce_approvals => None,
                (_, true) => Some(
                    "no [governance.bodies]: configuration changes take effect without the bodies' signatures".into(),
                ),
                (_, false) => Some("enforce_approvals = false".into()),
            },
            Self::GrantMetadata => (!snap.governance.require_grant_metadata).then(|| {
                "require_grant_metadata is off: grants need not say why, who approved them, or when they are reviewed".into()
            }),
            Self::ResponseContracts => {
                if snap.data_classes.is_empty() {
                    return Some("no [[data_classes]]: no answer is ever filtered".into());
                }
                list(
                    snap.routes
                        .iter()
                        .filter_map(|r| {
                            let why = r.passthrough.as_deref()?;
                            Some(format!("route {} passes its answers unfiltered ({why})", r.name))
                        })
                        .collect(),
                )
            }
            Self::AdminToken => snap
                .admin
                .as_ref()
                .filter(|a| a.token_sha256.is_none())
                .map(|_| {
                    "the admin listener has no token_sha256: reload, unsuspend and the status API are disabled, and nothing says who may use them".into()
                }),
            Self::Audit => snap
                .audit
                .is_none()
                .then(|| "audit.enabled = false: requests are not recorded".into()),
            Self::AuditSigningKey => snap
                .audit
                .as_ref()
                .filter(|a| a.signing_key.is_none())
                .map(|_| "audit.signing_key is not set: checkpoints are not signed, so a cut trail goes unnoticed".into()),
            Self::VersionedRoutes => model
                .settings
                .get("server.require_versioned_routes")
                .and_then(|s| s.value.as_deref())
                .filter(|v| *v == "false")
                .map(|_| {
                    format!(
                        "require_versioned_routes = false ({})",
                        note("server.justification".into())
                    )
                }),
            Self::WorkflowIdempotency => list(
                snap.routes
                    .iter()
                    .filter(|r| {
                        r.kind == PermissionKind::Workflow && r.idempotency != Idempotency::Required
                    })
                    .map(|r| {
                        format!(
                            "workflow route {} is not idempotent ({})",
                            r.name,
                            note(format!("routes.{}.justification", r.name))
                        )
                    })
                    .collect(),
            ),
            Self::NoCatchAll => list(
                snap.routes
                    .iter()
                    .filter(|r| r.template.contains("{*"))
                    .map(|r| {
                        format!(
                            "route {} is a catch-all ({})",
                            r.name,
                            note(format!("routes.{}.justification", r.name))
                        )
                    })
                    .collect(),
            ),
            Self::NoDatabasePorts => list(
                snap.upstreams
                    .iter()
                    .filter(|u| {
                        model
                            .settings
                            .get(&format!("upstreams.{}.allow_database_port", u.name))
                            .and_then(|s| s.value.as_deref())
                            == Some("true")
                    })
                    .map(|u| {
                        format!(
                            "upstream {} is a database port ({})",
                            u.name,
                            note(format!("upstreams.{}.justification", u.name))
                        )
                    })
                    .collect(),
            ),
        }
    }
}

/// Every safeguard's state in `snap`, in `ALL`'s order.
pub fn status(snap: &Snapshot) -> Vec<Status> {
    ALL.iter()
        .map(|s| Status {
            safeguard: *s,
            off: s.off_in(snap),
        })
        .collect()
}

/// The safeguards that are off, as warning lines.
pub fn warnings(snap: &Snapshot) -> Vec<String> {
    status(snap)
        .into_iter()
        .filter_map(|s| {
            s.off
                .map(|why| format!("warning: safeguard {} is off: {why}", s.safeguard.as_str()))
        })
        .collect()
}

/// Logs each safeguard that is off (at every start and reload).
pub fn log_off(snap: &Snapshot) {
    for s in status(snap) {
        if let Some(why) = s.off {
            tracing::warn!(safeguard = s.safeguard.as_str(), detail = %why, "safeguard off");
        }
    }
}
