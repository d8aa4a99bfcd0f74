//! Wiring: connects to Redis and MongoDB, starts the background tasks (ledger consumer,
//! live-feed relay) and serves the Leptos app, its server functions and the WebSocket
//! behind the login guard. Shuts down on SIGTERM or Ctrl-C, letting ingest finish the
//! batch in hand.

use std::sync::Arc;
use std::time::Duration;

use axum::{
    Router, middleware,
    routing::{get, post},
};
use axum_login::AuthManagerLayerBuilder;
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, generate_route_list};
use tokio::sync::watch;
use tower_sessions::{Expiry, SessionManagerLayer, cookie::Key, cookie::SameSite};

use crate::app::{App, shell};
use crate::server::account;
use crate::server::api_v1::{self, ApiSettings, changes::ChangeLog};
use crate::server::auth::{
    self, AuthSettings, Backend, DigestKey,
    address::{self, TrustedProxies},
    throttle::Throttle,
};
use crate::server::config::{ConfigError, MfaRequired, ServeSettings, Settings};
use crate::server::feed::{self, Hub, Publisher};
use crate::server::headers::{self, HeaderSettings};
use crate::server::ingest::{self, Consumer, ConsumerConfig, IngestError};
use crate::server::metrics::{self, Metrics};
use crate::server::projection;
use crate::server::state::{AppState, Ledger};
use crate::server::status::{self, StatusRules};
use crate::server::store::{MongoSessionStore, StartError, Store};
use crate::server::tally::Tally;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("MongoDB: {0}")]
    Store(#[from] StartError),
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("ledger consumer: {0}")]
    Ingest(#[from] IngestError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
    #[error("first admin (ADMIN_EMAIL): {0}")]
    Admin(String),
}

/// The Redis client `settings` describe, explaining a malformed URL. `rediss://` is TLS,
/// verified against the system's roots, or against `REDIS_CA_FILE` when set.
pub fn redis_client(settings: &Settings) -> Result<redis::Client, ConfigError> {
    let bad_url = |e: redis::RedisError| ConfigError::BadRedisUrl(e.to_string());
    let Some(path) = &settings.redis_ca_file else {
        return redis::Client::open(settings.redis_url.as_str()).map_err(bad_url);
    };
    let bad_ca = |reason: String| ConfigError::RedisCa {
        path: path.display().to_string(),
        reason,
    };
    let root_cert = std::fs::read(path).map_err(|e| bad_ca(e.to_string()))?;
    if !settings.redis_url.starts_with("rediss://") {
        return Err(bad_ca("is set, but REDIS_URL is not rediss://".into()));
    }
    redis::Client::build_with_tls(
        settings.redis_url.as_str(),
        redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(root_cert),
        },
    )
    .map_err(|e| bad_ca(e.to_string()))
}

pub async fn serve(settings: ServeSettings) -> Result<(), ServeError> {
    let conf = get_configuration(Some("Leptos.toml"))
        .or_else(|_| get_configuration(None))
        .map_err(|e| ConfigError::Leptos(e.to_string()))?;
    let leptos_options = conf.leptos_options;
    let addr = leptos_options.site_addr;

    let store = Store::connect(&settings.common.database_uri).await?;
    let redis = redis_client(&settings.common)?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let metrics = Arc::new(Metrics::default());
    let redis_conn = redis::aio::ConnectionManager::new(redis.clone()).await?;

    let hub = Hub::new(settings.common.changes_channel());
    tokio::spawn(hub.clone().relay(redis.clone()));
    let changes = ChangeLog::new(feed::change_log_key(&settings.common.changes_channel()));
    tokio::spawn(changes.clone().follow(redis.clone()));
    let tally = Tally::default();
    tokio::spawn(tally.clone().follow(hub.clone(), store.clone()));
    check_production(&settings)?;
    bootstrap_admin(&store, &settings).await?;

    let ingest_task = if settings.enable_event_processing {
        Some(
            start_ingest(
                &settings,
                &store,
                &redis,
                redis_conn.clone(),
                metrics.clone(),
                shutdown_rx.clone(),
            )
            .await?,
        )
    } else {
        tracing::info!("event processing disabled: serving only");
        None
    };

    let session_key = session_key(&settings)?;
    let state = AppState {
        leptos_options: leptos_options.clone(),
        store: store.clone(),
        hub,
        redis: redis_conn,
        ledger: Ledger {
            stream: settings.common.ledger_stream.clone(),
            group: settings.common.ledger_group.clone(),
            dead: settings.common.dead_stream.clone(),
        },
        metrics,
        shutdown: shutdown_rx,
        auth: Arc::new(AuthSettings {
            production: settings.common.production,
            max_session: Duration::from_secs(u64::from(settings.session_max_hours) * 3600),
            idle: settings.session_idle(),
            digests: DigestKey::derived(session_key.master()),
            throttle: Throttle::new(
                &settings.common.ledger_stream,
                settings.login_max_failures,
                settings.login_max_failures_per_address,
                Duration::from_secs(u64::from(settings.login_failure_window_minutes) * 60),
            ),
            sessions: MongoSessionStore::new(&store),
            mfa_required: settings
                .mfa_required
                .unwrap_or(if settings.common.production {
                    MfaRequired::Admins
                } else {
                    MfaRequired::None
                }),
        }),
        counts: Arc::default(),
        api: Arc::new(ApiSettings {
            rate_per_minute: settings.api_rate_per_minute,
            heartbeat: Duration::from_secs(settings.sse_heartbeat_secs),
        }),
        changes,
        tally,
        wait_alert_ms: i64::try_from(settings.wait_alert_secs.saturating_mul(1000))
            .unwrap_or(i64::MAX),
        overviews: Arc::default(),
    };
    let app = router(state, &settings, session_key);

    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    tracing::info!("serving on http://{addr}");
    // On SIGTERM / Ctrl-C: stop accepting, close WebSockets (they would keep the server
    // open forever), and let ingest finish and acknowledge its batch.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown_signal().await;
        let _ = shutdown_tx.send(true);
    })
    .await?;

    if let Some(task) = ingest_task {
        // The batch in hand is finished and acknowledged, unless Redis or the store is
        // gone; its entries then stay pending and are re-read on the next start.
        if tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .is_err()
        {
            tracing::warn!(
                "ingest did not stop within 10 s; its unacknowledged entries stay pending"
            );
        }
    }
    Ok(())
}

/// Starts the ledger consumers and the status task; the returned task ends once
/// `shutdown` turns true and each consumer's batch in hand is acknowledged.
async fn start_ingest(
    settings: &ServeSettings,
    store: &Store,
    redis: &redis::Client,
    redis_conn: redis::aio::ConnectionManager,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, ServeError> {
    let publisher = Publisher::new(redis_conn.clone(), settings.common.changes_channel());
    let config = ConsumerConfig {
        batch: settings.ingest_batch.max(1),
        claim_idle: Duration::from_secs(settings.claim_idle_secs.max(1)),
        limits: settings.common.limits(),
        ..ConsumerConfig::new(
            &settings.common.ledger_stream,
            &settings.common.ledger_group,
            &settings.consumer_name(),
            &settings.common.dead_stream,
        )
    };
    let consumers = Consumer::connect_members(
        redis,
        store.clone(),
        publisher.clone(),
        metrics,
        &config,
        settings.ingest_consumers,
    )
    .await?;
    // Conversations and customers stored by an older version get their search words, and
    // conversations their parts where they live now, in the background.
    let backfill = store.clone();
    tokio::spawn(async move {
        match backfill.add_missing_search_words().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(conversations = n, "search words added"),
            Err(e) => tracing::warn!(error = %e, "search words not added to older conversations"),
        }
        match backfill.add_missing_customer_words().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(customers = n, "search words added"),
            Err(e) => tracing::warn!(error = %e, "search words not added to older customers"),
        }
        for (from, to) in projection::registers::MOVED {
            match backfill.move_field(from, to).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(conversations = n, from, to, "part moved"),
                Err(e) => tracing::warn!(error = %e, from, to, "part not moved"),
            }
        }
    });
    tokio::spawn(status::run(
        store.clone(),
        publisher,
        StatusRules::default(),
        Duration::from_secs(settings.status_tick_secs.max(1)),
        shutdown.clone(),
    ));
    let tasks: Vec<_> = consumers
        .into_iter()
        .map(|consumer| tokio::spawn(ingest::run(consumer, shutdown.clone())))
        .collect();
    Ok(tokio::spawn(async move {
        for task in tasks {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "a ledger consumer stopped abnormally");
            }
        }
    }))
}

/// `billie-dashboard ingest`: consumes the ledger without serving anything, for
/// deployments that scale ingest and web separately.
pub async fn ingest_only(settings: ServeSettings) -> Result<(), ServeError> {
    let store = Store::connect(&settings.common.database_uri).await?;
    let redis = redis_client(&settings.common)?;
    let redis_conn = redis::aio::ConnectionManager::new(redis.clone()).await?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let metrics = Arc::new(Metrics::default());
    if let Some(addr) = settings.metrics_addr {
        let ops = metrics::Ops {
            redis: redis_conn.clone(),
            store: store.clone(),
            ledger: Ledger {
                stream: settings.common.ledger_stream.clone(),
                group: settings.common.ledger_group.clone(),
                dead: settings.common.dead_stream.clone(),
            },
            metrics: metrics.clone(),
        };
        metrics::serve(addr, ops, shutdown_rx.clone())
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
    } else {
        tracing::info!("METRICS_ADDR is not set: no health or metrics endpoints");
    }
    let task = start_ingest(&settings, &store, &redis, redis_conn, metrics, shutdown_rx).await?;
    shutdown_signal().await;
    let _ = shutdown_tx.send(true);
    if tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .is_err()
    {
        tracing::warn!("ingest did not stop within 10 s; its unacknowledged entries stay pending");
    }
    Ok(())
}

/// The key signing session cookies, from SESSION_SECRET (random without it).
fn session_key(settings: &ServeSettings) -> Result<Key, ConfigError> {
    match &settings.session_secret {
        Some(secret) if secret.len() >= 32 => Ok(Key::derive_from(secret.as_bytes())),
        Some(secret) => Err(ConfigError::ShortSessionSecret(secret.len())),
        None => {
            tracing::warn!("SESSION_SECRET is not set: sessions end when this process stops");
            Ok(Key::generate())
        }
    }
}

fn router(state: AppState, settings: &ServeSettings, key: Key) -> Router {
    let idle = time::Duration::try_from(settings.session_idle()).unwrap_or(time::Duration::MINUTE);
    let sessions = SessionManagerLayer::new(MongoSessionStore::new(&state.store))
        .with_name(auth::session::cookie_name(settings.secure_cookies))
        .with_secure(settings.secure_cookies)
        .with_same_site(SameSite::Lax)
        .with_http_only(true)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(idle))
        .with_signed(key);
    let backend = Backend::new(state.store.clone(), state.auth.digests.clone());
    let auth_layer = AuthManagerLayerBuilder::new(backend, sessions).build();

    let routes = generate_route_list(App);
    let options = state.leptos_options.clone();
    // The API takes no cookies: it is outside the session and sign-in layers.
    let api = Router::new()
        .nest("/api/v1", api_v1::router(state.clone()))
        .layer(middleware::from_fn_with_state(
            TrustedProxies::new(settings.trusted_proxies.clone()),
            address::resolve,
        ))
        .layer(middleware::from_fn_with_state(
            HeaderSettings {
                https: settings.secure_cookies,
            },
            headers::security_headers,
        ))
        .with_state(state.clone());
    let app = Router::new()
        .route("/healthz", get(metrics::healthz))
        .route("/readyz", get(metrics::readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/login", post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/login/mfa", post(auth::mfa::second_step))
        .route("/account/mfa/start", post(auth::mfa::begin))
        .route("/account/mfa/confirm", post(auth::mfa::confirm))
        .route("/account/mfa/disable", post(auth::mfa::disable))
        .route("/account/mfa/saved", post(auth::mfa::codes_saved))
        .route("/ws", get(feed::websocket))
        .route("/account/avatar", post(account::upload_avatar))
        .route("/avatars/{id}", get(account::avatar))
        .leptos_routes_with_context(
            &state,
            routes,
            {
                let state = state.clone();
                move || provide_context(state.clone())
            },
            move || shell(options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(middleware::from_fn_with_state(state.clone(), auth::guard))
        .layer(auth_layer)
        .layer(middleware::from_fn_with_state(
            TrustedProxies::new(settings.trusted_proxies.clone()),
            address::resolve,
        ))
        .layer(middleware::from_fn(auth::origin::same_site_only))
        .layer(middleware::from_fn_with_state(
            HeaderSettings {
                https: settings.secure_cookies,
            },
            headers::security_headers,
        ))
        .with_state(state);
    api.merge(app)
}

/// Refuses settings a production deployment must not run with.
fn check_production(settings: &ServeSettings) -> Result<(), ConfigError> {
    if !settings.common.production {
        return Ok(());
    }
    if !settings.secure_cookies {
        return Err(ConfigError::Production("SECURE_COOKIES cannot be off"));
    }
    if settings.session_secret.is_none() {
        return Err(ConfigError::Production("SESSION_SECRET must be set"));
    }
    if settings
        .admin_password
        .as_deref()
        .is_some_and(|p| auth::policy::is_refused_demo(p, true))
    {
        return Err(ConfigError::Production(
            "ADMIN_PASSWORD cannot be the demo password",
        ));
    }
    Ok(())
}

/// Creates the first admin from ADMIN_EMAIL and ADMIN_PASSWORD when no active admin
/// exists; an existing account is left alone.
async fn bootstrap_admin(store: &Store, settings: &ServeSettings) -> Result<(), ServeError> {
    use crate::server::store::{NewUser, Role, normalise_email};
    let (email, password) = match (&settings.admin_email, &settings.admin_password) {
        (Some(email), Some(password)) => (email, password),
        (None, None) => return Ok(()),
        _ => return Err(ConfigError::HalfAdmin.into()),
    };
    if store.has_admin().await.map_err(StartError::from)? {
        return Ok(());
    }
    let bad = |e: crate::server::store::UserError| ServeError::Admin(e.to_string());
    let email = normalise_email(email).map_err(bad)?;
    auth::policy::check_new_password(password, &email, settings.common.production).map_err(bad)?;
    let password_hash = auth::password::hash(password.clone())
        .await
        .map_err(|e| ServeError::Admin(e.to_string()))?;
    let user = store
        .add_user(
            NewUser {
                email,
                role: Role::Admin,
                password_hash,
            },
            false,
        )
        .await
        .map_err(bad)?;
    tracing::info!(email = %user.email, "first admin created from ADMIN_EMAIL");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
