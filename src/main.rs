//! The `kwanus-gateway` binary: everything lives in the library; see `cli`.

fn main() -> std::process::ExitCode {
    kwanus_gateway::cli::main()
}
