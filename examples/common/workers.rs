//! The I/O model the bare proxies share with the gateway: one thread per worker, each with a
//! single-threaded runtime running `serve` on its clone of the shared listener.

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
    let listener = std::net::TcpListener::bind(listen)?;
    listener.set_nonblocking(true)?;
    let mut threads = Vec::new();
    for _ in 0..workers.max(1) {
        let listener = listener.try_clone()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
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
