//! The `kwanus-gateway` binary: everything lives in the library; see `cli`.

/// mimalloc: per-thread free lists, so records allocated on a worker and freed on the audit
/// writer's thread do not contend on glibc's arena locks (measured in `benches/load/run.sh`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // No transparent huge pages for this process: the kernel would back mimalloc's arenas with
    // whole 2 MiB pages however little of each is used, and zero each one at its first touch
    // (the large configuration: 130 of 143 MiB resident after start were huge pages, and
    // zeroing them was a quarter of a reload). Best effort: without the prctl, THP stays.
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    kwanus_gateway::cli::main()
}
