//! Settings, read from the environment with the names the platform's other services
//! already use, and from command-line flags of the same meaning. Every setting has a
//! default that works on a developer's laptop, so `billie-dashboard` alone starts.

use crate::server::projection::Limits;

/// Connections and stream names shared by every subcommand that touches the ledger.
#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    /// Redis holding the chatLedger stream and the change-notice channel.
    /// `rediss://` for TLS (with `REDIS_CA_FILE` for a private CA); credentials go in the
    /// URL (`rediss://user:password@host:6380`) and are never shown by `--help`.
    #[arg(
        long,
        env = "REDIS_URL",
        default_value = "redis://127.0.0.1:6379",
        hide_env_values = true
    )]
    pub redis_url: String,

    /// PEM file of the certificate authority to trust for `rediss://`, instead of the
    /// system's roots (a private CA, or a self-signed Redis certificate).
    #[arg(long, env = "REDIS_CA_FILE")]
    pub redis_ca_file: Option<std::path::PathBuf>,

    /// MongoDB URI including the database name, e.g. mongodb://host:27017/billie.
    #[arg(
        long,
        env = "DATABASE_URI",
        default_value = "mongodb://127.0.0.1:27017/billie_dashboard",
        hide_env_values = true
    )]
    pub database_uri: String,

    /// Stream the chat agents append to.
    #[arg(long, env = "LEDGER_STREAM", default_value = "chatLedger")]
    pub ledger_stream: String,

    /// Consumer group shared by every ingest process.
    #[arg(long, env = "LEDGER_GROUP", default_value = "supervisor-dashboard")]
    pub ledger_group: String,

    /// Dead-letter stream for entries that break the contract.
    #[arg(long, env = "LEDGER_DEAD_STREAM", default_value = "chatLedger:dead")]
    pub dead_stream: String,

    /// Newest transcript messages kept per conversation (EVENTS.md §6).
    #[arg(long, env = "TRANSCRIPT_LIMIT", default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..))]
    pub transcript_limit: u32,

    /// Newest versions kept per noticeboard entry (EVENTS.md §6).
    #[arg(long, env = "NOTICEBOARD_VERSIONS", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub noticeboard_versions: u32,

    /// A production deployment: the demo password is refused everywhere, and cookies
    /// must be `Secure`.
    #[arg(long, env = "PRODUCTION", default_value_t = false, action = clap::ArgAction::Set)]
    pub production: bool,
}

impl Settings {
    pub fn limits(&self) -> Limits {
        Limits {
            transcript: self.transcript_limit as usize,
            noticeboard_versions: self.noticeboard_versions as usize,
        }
    }

    /// Pub/sub channel carrying change notices from ingest to every web process.
    pub fn changes_channel(&self) -> String {
        format!("{}:changes", self.ledger_stream)
    }
}

/// Settings of the `serve` command (the default command).
#[derive(Debug, Clone, clap::Args)]
pub struct ServeSettings {
    #[command(flatten)]
    pub common: Settings,

    /// Whether this process consumes the ledger; web-only processes set it to false.
    #[arg(long, env = "ENABLE_EVENT_PROCESSING", default_value_t = true, action = clap::ArgAction::Set)]
    pub enable_event_processing: bool,

    /// Name of this process in the consumer group. It must stay the same across restarts
    /// so the process finds its own unacknowledged entries; defaults to the host name.
    #[arg(long, env = "LEDGER_CONSUMER")]
    pub ledger_consumer: Option<String>,

    /// Entries read per XREADGROUP.
    #[arg(long, env = "INGEST_BATCH", default_value_t = crate::server::ingest::DEFAULT_BATCH)]
    pub ingest_batch: usize,

    /// Consumers this process runs in the group, each a member of its own
    /// (`LEDGER_CONSUMER`, then `LEDGER_CONSUMER-2`, …): while one waits for the store,
    /// another reads and prepares its batch.
    #[arg(long, env = "INGEST_CONSUMERS", default_value_t = crate::server::ingest::DEFAULT_MEMBERS)]
    pub ingest_consumers: usize,

    /// Seconds an entry may wait unacknowledged on another consumer before this one
    /// claims it (that consumer is taken to be dead).
    #[arg(long, env = "CLAIM_IDLE_SECS", default_value_t = 60)]
    pub claim_idle_secs: u64,

    /// Where `billie-dashboard ingest` serves `/healthz`, `/readyz` and `/metrics` (e.g.
    /// 0.0.0.0:9464); unset, an ingest-only process serves nothing. Web processes serve
    /// them beside the app.
    #[arg(long, env = "METRICS_ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,

    /// How often (seconds) conversations' time-derived status is brought up to date.
    #[arg(long, env = "STATUS_TICK_SECS", default_value_t = 5)]
    pub status_tick_secs: u64,

    /// Secret (at least 32 bytes) signing session cookies. Without it a random one is
    /// made at start, so sessions end when the process restarts.
    #[arg(long, env = "SESSION_SECRET", hide_env_values = true)]
    pub session_secret: Option<String>,

    /// Mark the session cookie `Secure`, so browsers send it over HTTPS only. Turn it off
    /// only for plain-HTTP development on localhost (refused in production).
    #[arg(long, env = "SECURE_COOKIES", default_value_t = true, action = clap::ArgAction::Set)]
    pub secure_cookies: bool,

    /// A session ends after this many minutes without a request.
    #[arg(long, env = "SESSION_IDLE_MINUTES", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    pub session_idle_minutes: u32,

    /// Overrides SESSION_IDLE_MINUTES in seconds (tests and demos of expiry).
    #[arg(long, env = "SESSION_IDLE_SECS", value_parser = clap::value_parser!(u64).range(2..))]
    pub session_idle_secs: Option<u64>,

    /// A session ends this many hours after sign-in, however active.
    #[arg(long, env = "SESSION_MAX_HOURS", default_value_t = 12, value_parser = clap::value_parser!(u32).range(1..))]
    pub session_max_hours: u32,

    /// Failed sign-ins of one account, within the window, after which it must wait.
    #[arg(long, env = "LOGIN_MAX_FAILURES", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub login_max_failures: u32,

    /// Failed sign-ins from one address, within the window, after which it must wait
    /// (higher than per account: an office shares one address).
    #[arg(long, env = "LOGIN_MAX_FAILURES_PER_ADDRESS", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub login_max_failures_per_address: u32,

    /// Minutes failed sign-ins are counted for.
    #[arg(long, env = "LOGIN_FAILURE_WINDOW_MINUTES", default_value_t = 15, value_parser = clap::value_parser!(u32).range(1..))]
    pub login_failure_window_minutes: u32,

    /// Proxies (CIDR blocks or addresses, comma-separated) whose `Forwarded` /
    /// `X-Forwarded-For` name the client; from anyone else these headers are ignored.
    /// Set it to the TLS proxy's addresses, or every client has the proxy's address.
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',', value_parser = crate::server::auth::address::parse_net)]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Who must sign in with two steps (TOTP), enrolling on their account page before
    /// they can use anything else: `none`, `admins` or `everyone`. Defaults to `admins`
    /// with PRODUCTION, `none` without.
    #[arg(long, env = "MFA_REQUIRED", value_enum)]
    pub mfa_required: Option<MfaRequired>,

    /// With ADMIN_PASSWORD: the first admin, created at start if no active admin exists.
    #[arg(long, env = "ADMIN_EMAIL")]
    pub admin_email: Option<String>,

    #[arg(long, env = "ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,

    /// Requests an API token may make per minute, across all web processes; more get 429
    /// with `Retry-After`.
    #[arg(long, env = "API_RATE_PER_MINUTE", default_value_t = 600, value_parser = clap::value_parser!(u32).range(1..))]
    pub api_rate_per_minute: u32,

    /// Seconds between heartbeats of the API's change stream.
    #[arg(long, env = "SSE_HEARTBEAT_SECS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..))]
    pub sse_heartbeat_secs: u64,

    /// Seconds a customer may wait for Billie's reply before their conversation enters
    /// the attention queue.
    #[arg(long, env = "WAIT_ALERT_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub wait_alert_secs: u64,
}

impl ServeSettings {
    /// How long a session lives without a request.
    pub fn session_idle(&self) -> std::time::Duration {
        std::time::Duration::from_secs(
            self.session_idle_secs
                .unwrap_or(u64::from(self.session_idle_minutes) * 60),
        )
    }

    pub fn consumer_name(&self) -> String {
        self.ledger_consumer.clone().unwrap_or_else(|| {
            hostname::get()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_else(|| "dashboard".to_owned())
        })
    }
}

/// Whose accounts must sign in with two steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MfaRequired {
    None,
    Admins,
    Everyone,
}

/// A setting that cannot work, said so before anything starts.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("SESSION_SECRET must be at least 32 bytes long (it has {0})")]
    ShortSessionSecret(usize),
    #[error("DATABASE_URI must name a database, e.g. mongodb://127.0.0.1:27017/billie")]
    NoDatabaseName,
    #[error("DATABASE_URI is not a MongoDB URI: {0}")]
    BadDatabaseUri(String),
    #[error("REDIS_URL is not a Redis URL: {0}")]
    BadRedisUrl(String),
    #[error("REDIS_CA_FILE {path}: {reason}")]
    RedisCa { path: String, reason: String },
    #[error("Leptos settings: {0}")]
    Leptos(String),
    #[error("PRODUCTION is on: {0}")]
    Production(&'static str),
    #[error("ADMIN_EMAIL and ADMIN_PASSWORD go together")]
    HalfAdmin,
}
