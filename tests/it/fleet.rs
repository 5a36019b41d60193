//! One suspension for the fleet (issue 22 item 5): two gateway processes on one real
//! `redis-server`, each with its own trail. A suspension either detects holds on both within
//! a second, an operator's lift on either lifts it on both, and it ends by itself on both.

use std::net::SocketAddr;
use std::time::Duration;

use crate::governance::TOKEN;
use crate::support::*;

/// Within what the fleet promises (a suspension or a lift holds on every replica).
const FLEET: Duration = Duration::from_secs(1);

struct Replica {
    served: Served,
    trail: std::path::PathBuf,
}

impl Replica {
    fn admin(&self) -> SocketAddr {
        self.served.admin.expect("admin")
    }

    async fn globex_code(&self) -> String {
        let r = raw(self.served.addr, &raw_get("/v1/reports/1", GLOBEX)).await;
        if r.status() == 200 {
            return "ok".into();
        }
        r.body_json()["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn trip(&self) {
        let post = format!(
            "POST /v1/reports HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {GLOBEX}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        for _ in 0..5 {
            assert_eq!(raw(self.served.addr, post.as_bytes()).await.status(), 403);
        }
        assert_eq!(self.globex_code().await, "partner_suspended");
    }

    async fn suspended(&self) -> Vec<String> {
        let req = format!(
            "GET /admin/status HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
        );
        let status = raw(self.admin(), req.as_bytes()).await.body_json();
        status["suspended"]
            .as_array()
            .unwrap_or_else(|| panic!("{status}"))
            .iter()
            .map(|s| s["partner"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    async fn unsuspend(&self) {
        let req = format!(
            "POST /admin/partners/globex/unsuspend HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(raw(self.admin(), req.as_bytes()).await.status(), 200);
    }

    /// Whether globex gets `code` from this replica within `within`.
    async fn answers(&self, code: &str, within: Duration) -> bool {
        eventually(within, || async { self.globex_code().await == code }).await
    }

    /// The replica's suspension records: (action, by).
    fn stop_and_read(self) -> Vec<(String, String)> {
        self.served.signal("-TERM");
        self.served.wait_log("stopped");
        audit_records(&self.trail)
            .iter()
            .filter(|r| r["kind"] == "suspension")
            .map(|r| {
                let s = |n: &str| r[n].as_str().unwrap_or_default().to_owned();
                (s("action"), s("by"))
            })
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspension_and_its_lifting_hold_on_every_replica() {
    let dir = temp_dir("fleet");
    let redis = Redis::start(&dir).await;
    let upstream = Upstream::start().await;
    let down = closed_port().await;
    let replica = |name: &str| {
        let trail = dir.join(format!("trail-{name}"));
        let text = format!(
            "{FIXTURE}\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken_sha256 = \"@{TOKEN}\"\n[audit]\ndir = {:?}\n[state]\nbackend = \"redis\"\nredis_url = \"{}\"\n[governance.misuse]\nthreshold = 5\nwindow = \"60s\"\nsuspend_for = \"4s\"\n",
            trail.display().to_string(),
            redis.url()
        );
        let config = dir.join(format!("{name}.toml"));
        std::fs::write(&config, render(&text, &upstream, down)).expect("config");
        Replica {
            served: Served::start(&config),
            trail,
        }
    };
    let (a, b) = (replica("a"), replica("b"));
    // Both connected to Redis before the first suspension.
    for r in [&a, &b] {
        r.served.wait_log("Redis reachable");
    }

    // Detected on A, held on B within a second, and listed by both.
    a.trip().await;
    assert!(b.answers("partner_suspended", FLEET).await);
    assert_eq!(a.suspended().await, ["globex"]);
    assert_eq!(b.suspended().await, ["globex"]);

    // Lifted by an operator on B: lifted on A within a second.
    b.unsuspend().await;
    assert_eq!(b.globex_code().await, "ok");
    assert!(a.answers("ok", FLEET).await);
    assert_eq!(a.suspended().await, Vec::<String>::new());

    // Detected on B this time; it ends by itself on both, with no request to notice it.
    b.trip().await;
    assert!(a.answers("partner_suspended", FLEET).await);
    let end = tokio::time::Instant::now() + Duration::from_secs(4) + FLEET;
    tokio::time::sleep_until(end).await;
    assert_eq!(a.suspended().await, Vec::<String>::new());
    assert_eq!(b.suspended().await, Vec::<String>::new());

    let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    assert_eq!(
        a.stop_and_read(),
        [
            pair("suspended", "misuse"),
            pair("lifted", "fleet"),
            pair("suspended", "fleet"),
            pair("lifted", "expiry"),
        ]
    );
    assert_eq!(
        b.stop_and_read(),
        [
            pair("suspended", "fleet"),
            pair("lifted", "operator"),
            pair("suspended", "misuse"),
            pair("lifted", "expiry"),
        ]
    );
}
