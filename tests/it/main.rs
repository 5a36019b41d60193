//! The integration suite, as one test binary (one link of the crate instead of one per file):
//! the real gateway on 127.0.0.1:0 in front of real upstreams, driven over real sockets and
//! through the real binary, one module per concern.

mod support;

mod audit;
mod binds;
mod cli;
mod contract;
mod defaults;
mod deploy;
mod docs;
mod fleet;
mod forward;
mod governance;
mod h1;
mod h2_limits;
mod integrity;
mod jwt;
mod layers;
mod lifecycle;
mod limits;
mod ops;
mod pipeline;
mod policy;
mod pool;
mod properties;
mod report;
mod security;
mod tls;
mod trace;
