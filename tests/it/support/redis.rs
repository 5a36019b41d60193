//! A real `redis-server` for the tests that share state between replicas.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::closed_port;

/// A `redis-server` on a free loopback port, stopped on drop.
pub struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    pub async fn start(dir: &Path) -> Self {
        Self::start_on(dir, closed_port().await.port()).await
    }

    #[expect(clippy::zombie_processes, reason = "Drop kills and waits for it")]
    pub async fn start_on(dir: &Path, port: u16) -> Self {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (apt-get install redis-server; .ci/run does it)");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Self { child, port };
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("redis-server did not start");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
