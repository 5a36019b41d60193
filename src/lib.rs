//! kwanus-gateway: a permission-enforcing API gateway in front of the KWANUS partner APIs.
//!
//! ```text
//!            ┌──────── Shared snapshot (ArcSwap<Snapshot>) ◄── reload ◄── config::load
//!            │ load_full() once per request
//!            ▼
//! request ─► normalize ─► forbidden ─► auth ─► routes::find ─► policy::decide ─► forward
//!            400          403          401     404 / 405       403 / 428         502 / 504
//!              └─────────────┴────────────┴─────────┬──────────────┴──────────────┘
//!                                                   ▼
//!                            proxy::respond (GatewayError → problem+json)
//!                                                   ▼
//!                       finish: one Outcome to the sinks (every path, abandoned too)
//! ```
//!
//! `auth`, `routes` and `policy` know nothing of hyper bodies or sinks; `proxy` is the only
//! module that orchestrates.

pub mod admin;
pub mod app;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod conn_guard;
pub mod demo;
pub mod identity;
pub mod keygen;
pub mod metrics;
pub mod normalize;
pub mod outcome;
pub mod policy;
pub mod proxy;
pub mod reload;
pub mod routes;
pub mod server;
pub mod shutdown;
pub mod snapshot;
pub mod state;
pub mod tls;
