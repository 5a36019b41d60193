//! The I/O model the bare proxies share with the gateway: one thread per worker, each with a
//! single-threaded runtime running `serve` on its clone of the shared listener (or, with
//! `REUSEPORT=1`, on a socket of its own: a measurement for `docs/decisions.md`).

use std::future::Future;
use std::net::SocketAddr;

/// What the bare proxies return.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Reads `<listen addr> <upstream addr> <workers>`, binds, and runs `serve` on every worker
/// until they all end.
pub(crate) fn run<F, Fut>(name: &'static str, serve: F) -> Result<(), BoxError>
where
    F: Fn(std::net::TcpListener, SocketAddr) -> Fut + Send + Copy + 'static,
    Fut: Future<Output = Result<(), BoxError>>,
{
    let mut args = std::env::args().skip(1);
    let usage = format!("usage: {name} <listen addr> <upstream addr> <workers>");
    let listen: SocketAddr = args.next().ok_or(usage.clone())?.parse()?;
    let upstream: SocketAddr = args.next().ok_or(usage.clone())?.parse()?;
    let workers: usize = args.next().ok_or(usage)?.parse()?;
    // REUSEPORT=1: a listening socket per worker (SO_REUSEPORT; the kernel spreads new
    // connections by a hash of their addresses) instead of one socket every worker accepts on.
    let reuseport = std::env::var_os("REUSEPORT").is_some_and(|v| v == "1");
    let shared = if reuseport {
        None
    } else {
        let listener = std::net::TcpListener::bind(listen)?;
        listener.set_nonblocking(true)?;
        Some(listener)
    };
    let mut threads = Vec::new();
    for _ in 0..workers.max(1) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let listener = match &shared {
            Some(l) => l.try_clone()?,
            None => {
                let _in = runtime.enter();
                let socket = tokio::net::TcpSocket::new_v4()?;
                socket.set_reuseport(true)?;
                socket.bind(listen)?;
                socket.listen(1024)?.into_std()?
            }
        };
        threads.push(std::thread::spawn(move || {
            runtime.block_on(async move {
                if let Err(e) = serve(listener, upstream).await {
                    eprintln!("{name}: {e}");
                }
            });
        }));
    }
    for t in threads {
        let _ = t.join();
    }
    Ok(())
}
