//! The system under fault, on this machine: a Redis with AOF and a MongoDB-wire server of
//! the suite's own (on free ports, in a temporary folder), and the release binary run as
//! an operator runs it — ingest-only processes, web-only processes and the simulator —
//! each a child process the suite can kill, freeze or restart.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::Error;

/// The account the web processes are started with, for the WebSocket clients.
pub const EMAIL: &str = "faults@billie.example";
pub const PASSWORD: &str = "fault-injection-password";

pub fn free_port() -> Result<u16, Error> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits until something listens on `addr`, or `child` exits.
async fn wait_listening(addr: SocketAddr, what: &str, child: &mut Child) -> Result<(), Error> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(addr).is_err() {
        if let Some(status) = child.try_wait()? {
            return Err(format!("{what} exited at start ({status})").into());
        }
        if Instant::now() > deadline {
            return Err(format!("{what} did not listen on {addr} within 60 s").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Sends `signal` (`KILL`, `STOP`, `CONT`) to process `pid`.
pub fn signal(pid: u32, signal: &str) -> Result<(), Error> {
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()?;
    if !status.success() {
        return Err(format!("kill -{signal} {pid} failed").into());
    }
    Ok(())
}

pub struct Redis {
    child: Child,
    pub port: u16,
    dir: PathBuf,
}

impl Redis {
    pub async fn start(dir: &Path) -> Result<Self, Error> {
        let port = free_port()?;
        let mut redis = Self {
            child: Self::spawn(dir, port)?,
            port,
            dir: dir.to_owned(),
        };
        wait_listening(Self::addr(port), "redis-server", &mut redis.child).await?;
        Ok(redis)
    }

    fn addr(port: u16) -> SocketAddr {
        ([127, 0, 0, 1], port).into()
    }

    fn spawn(dir: &Path, port: u16) -> Result<Child, Error> {
        std::fs::create_dir_all(dir)?;
        Ok(Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "yes", "--appendfsync", "everysec"])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start redis-server: {e}"))?)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops Redis as an orchestrator does (SIGTERM: it writes its AOF and exits), and
    /// starts it again on the same port and files. Returns when it answers again.
    pub async fn restart(&mut self) -> Result<(), Error> {
        signal(self.child.id().unwrap_or_default(), "TERM")?;
        self.child.wait().await?;
        self.child = Self::spawn(&self.dir, self.port)?;
        wait_listening(Self::addr(self.port), "redis-server", &mut self.child).await?;
        // It listens before it has loaded its AOF, and answers LOADING until then.
        let client = redis::Client::open(self.url())?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ping = async {
                let mut conn = client.get_multiplexed_async_connection().await?;
                redis::cmd("PING").query_async::<String>(&mut conn).await
            };
            match ping.await {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() > deadline => {
                    return Err(format!("Redis did not load its data within 60 s: {e}").into());
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
}

pub struct Mongo {
    child: Child,
    pub port: u16,
}

impl Mongo {
    /// SecantusDB's server (`FAULTS_MONGOD`, else the one `scripts/lib.sh` installs).
    pub async fn start(log: &Path) -> Result<Self, Error> {
        let port = free_port()?;
        let program = std::env::var("FAULTS_MONGOD")
            .unwrap_or_else(|_| format!("{}/.venv/bin/secantusd-py", env!("CARGO_MANIFEST_DIR")));
        let mut child = Command::new(&program)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--storage-path", ":memory:", "--log-level", "WARNING"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log)?)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {program}: {e}"))?;
        wait_listening(
            ([127, 0, 0, 1], port).into(),
            "the MongoDB-wire server",
            &mut child,
        )
        .await?;
        Ok(Self { child, port })
    }

    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or_default()
    }

    pub fn uri(&self, db: &str) -> String {
        format!(
            "mongodb://127.0.0.1:{}/{db}?directConnection=true&retryWrites=false&maxIdleTimeMS=60000",
            self.port
        )
    }
}

/// What one started process of the dashboard is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `billie-dashboard ingest`, with its operations endpoints.
    Ingest,
    /// `billie-dashboard serve` with ENABLE_EVENT_PROCESSING=false.
    Web,
    /// `billie-dashboard serve`: web and ingest in one process, as `scripts/run` starts it.
    Both,
}

/// Where one scenario's processes connect: its own stream and database.
#[derive(Clone)]
pub struct Target {
    pub app_bin: PathBuf,
    pub site_root: PathBuf,
    pub logs: PathBuf,
    pub redis_url: String,
    pub database_uri: String,
    pub stream: String,
}

impl Target {
    fn command(&self, log_name: &str) -> Result<Command, Error> {
        let mut command = Command::new(&self.app_bin);
        command
            .env("REDIS_URL", &self.redis_url)
            .env("DATABASE_URI", &self.database_uri)
            .env("LEDGER_STREAM", &self.stream)
            .env("LEDGER_DEAD_STREAM", format!("{}:dead", self.stream))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.logs.join(format!("{log_name}.log")))?,
            )
            .kill_on_drop(true);
        Ok(command)
    }

    /// Starts a dashboard process named `name` (its consumer name too) and waits until
    /// it listens: its app port for web, its `METRICS_ADDR` for ingest.
    pub async fn start(&self, role: Role, name: &str) -> Result<App, Error> {
        let port = free_port()?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut command = self.command(name)?;
        command
            .env("LEDGER_CONSUMER", name)
            // A killed process's entries are claimed by the others after 2 s.
            .env("CLAIM_IDLE_SECS", "2");
        match role {
            Role::Ingest => {
                command.arg("ingest").env("METRICS_ADDR", addr.to_string());
            }
            Role::Web | Role::Both => {
                command
                    .arg("serve")
                    .env("ENABLE_EVENT_PROCESSING", (role == Role::Both).to_string())
                    .env("LEPTOS_SITE_ADDR", addr.to_string())
                    .env("LEPTOS_SITE_ROOT", &self.site_root)
                    .env("SESSION_SECRET", "fault-suite-secret-of-at-least-32-bytes")
                    .env("SECURE_COOKIES", "false")
                    .env("ADMIN_EMAIL", EMAIL)
                    .env("ADMIN_PASSWORD", PASSWORD);
            }
        }
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.app_bin.display()))?;
        wait_listening(addr, name, &mut child).await?;
        Ok(App {
            child,
            addr,
            role,
            name: name.to_owned(),
        })
    }

    /// `billie-dashboard simulate` at `rate` events a second, for `events` if given.
    pub fn simulate(&self, rate: u32, events: Option<u64>) -> Result<Child, Error> {
        let mut command = self.command("simulator")?;
        command
            .arg("simulate")
            .args(["--rate", &rate.to_string(), "--conversations", "40"]);
        if let Some(events) = events {
            command.args(["--events", &events.to_string()]);
        }
        Ok(command.spawn()?)
    }

    /// `billie-dashboard replay` of the whole stream into `database_uri`: the in-order
    /// run the projections under fault are compared with.
    pub async fn replay_into(&self, database_uri: &str) -> Result<(), Error> {
        let mut command = self.command("replay")?;
        command
            .arg("replay")
            .env("DATABASE_URI", database_uri)
            // Its notices go to a channel nobody listens to.
            .env("LEDGER_STREAM", &self.stream);
        let status = command.status().await?;
        if !status.success() {
            return Err(format!("replay failed ({status})").into());
        }
        Ok(())
    }
}

pub struct App {
    child: Child,
    pub addr: SocketAddr,
    pub role: Role,
    pub name: String,
}

impl App {
    /// Resident memory of the process, in bytes, as an operator's tools read it.
    pub fn rss(&self) -> Result<u64, Error> {
        let pid = self.child.id().ok_or("the process has exited")?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let kb = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or("no VmRSS in /proc status")?;
        Ok(kb * 1024)
    }

    /// `kill -9`: no chance to finish or acknowledge anything.
    pub async fn kill(mut self) -> Result<(), Error> {
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }

    /// The body and status of `GET path` on this process.
    pub async fn get(&self, path: &str) -> Result<(u16, String), Error> {
        let mut client = crate::http::Client::new(self.addr);
        let response = client.get(path).await?;
        Ok((
            response.status,
            String::from_utf8_lossy(&response.body).into_owned(),
        ))
    }
}
