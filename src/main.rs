//! The `kwanus-gateway` binary: everything lives in the library; see `cli`.

/// mimalloc: per-thread free lists, so records allocated on a worker and freed on the audit
/// writer's thread do not contend on glibc's arena locks (measured in `benches/load/run.sh`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    kwanus_gateway::cli::main()
}
