//! kwanus-gateway: a permission-enforcing API gateway in front of the KWANUS partner APIs.
//!
//! ```text
//!              ┌──────── Shared snapshot (ArcSwap<Snapshot>) ◄── reload ◄── config::load
//!              │ load_full() once per request
//!              ▼
//! listener ─► normalize ─► forbidden ─► auth ─► routes ─► policy::decide ─► rate ─► intent ─► forward
//! conn_guard  400 (target,  403         401     404/405   403 / 428         429     503       502 / 504
//! (deadline,   Host, framing)
//!  caps)         └────────────┴───────────┴────────┴──────────┬──────────────┴───────┴─────────┘
//!                                                             ▼
//!                                      proxy::respond (GatewayError → problem+json)
//!                                                             ▼
//!             finish (proxy::exchange): one Outcome to the sinks — access log, metrics, audit —
//!             at the head, or at the end of a forwarded body (`response_complete`)
//! ```
//!
//! `auth`, `routes` and `policy` know nothing of hyper bodies or sinks; `proxy` is the only
//! module that orchestrates. docs/internals.md walks through the flow module by module.

pub mod admin;
pub mod app;
pub mod approvals;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod conn_guard;
pub mod contract;
pub mod demo;
pub mod digest;
pub mod files;
pub mod fleet;
pub mod governance;
pub mod h1;
pub mod identity;
pub mod keygen;
pub mod metrics;
pub mod model;
pub mod normalize;
pub mod outcome;
pub mod policy;
pub mod proxy;
pub mod reload;
pub mod routes;
pub mod safeguards;
pub mod server;
pub mod shutdown;
pub mod snapshot;
pub mod state;
pub mod tls;
pub mod upstream;
