//! The dashboard as the benchmark runs it: the release binary `scripts/bench` built, in
//! its own process on a free port, against the Redis and secantusd-rs the script started.
//! Its memory is read from `/proc`, as an operator's tools would.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{BenchError, Env};

/// The account the benchmark signs in with (created at start via ADMIN_EMAIL).
pub const EMAIL: &str = "bench@billie.example";
pub const PASSWORD: &str = "timing-password-of-some-length";

pub struct App {
    child: Child,
    pub addr: SocketAddr,
}

impl App {
    /// Starts `billie-dashboard serve` on database `db` and stream `stream`, consuming
    /// the ledger if `ingest`, and waits until it answers.
    pub fn start(env: &Env, db: &str, stream: &str, ingest: bool) -> Result<Self, BenchError> {
        let port = free_port()?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let log = std::fs::File::create(env.work.join(format!("app-{db}.log")))?;
        let child = Command::new(&env.app_bin)
            .env("REDIS_URL", &env.redis_url)
            .env("DATABASE_URI", env.database_uri(db))
            .env("LEDGER_STREAM", stream)
            .env("ENABLE_EVENT_PROCESSING", ingest.to_string())
            .env(
                "SESSION_SECRET",
                "benchmark-secret-of-at-least-thirty-two-bytes",
            )
            .env("SECURE_COOKIES", "false")
            .env("ADMIN_EMAIL", EMAIL)
            .env("ADMIN_PASSWORD", PASSWORD)
            .env("LEPTOS_SITE_ADDR", addr.to_string())
            .env("LEPTOS_SITE_ROOT", &env.site_root)
            .env("RUST_LOG", "warn")
            // The benchmark's API clients are not to be throttled.
            .env("API_RATE_PER_MINUTE", "100000000")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", env.app_bin.display()))?;
        let mut app = Self { child, addr };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(addr).is_err() {
            if let Some(status) = app.child.try_wait()? {
                return Err(
                    format!("the dashboard exited at start ({status}); see {db}.log").into(),
                );
            }
            if Instant::now() > deadline {
                return Err("the dashboard did not start within 60 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(app)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory of the server process, in bytes.
    pub fn rss(&self) -> Result<u64, BenchError> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let kb = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or("no VmRSS in /proc status")?;
        Ok(kb * 1024)
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> Result<u16, BenchError> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
