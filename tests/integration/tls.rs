//! Redis over TLS (`rediss://`) with credentials in the URL: a local `redis-server`
//! listening on a TLS port only, with a certificate from a CA made for the test, and the
//! fixture ledger ingested through it end to end.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use billie_dashboard::server::config::Settings;
use billie_dashboard::server::startup::redis_client;
use clap::Parser;

use crate::helpers::{TestEnv, fixture_fields};

/// A `redis-server` with TLS only, stopped when dropped.
struct TlsRedis {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success(), "openssl {args:?}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A CA, a certificate for 127.0.0.1 signed by it, and Redis serving TLS with it,
/// requiring the password `password`.
fn start(password: &str) -> TlsRedis {
    let dir =
        std::env::temp_dir().join(format!("billie-tls-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    openssl(
        &dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=billie test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    );
    openssl(
        &dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    openssl(
        &dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
            "-out",
            "server.pem",
        ],
    );
    let port = free_port();
    let child = Command::new("redis-server")
        .args(["--port", "0", "--tls-port", &port.to_string()])
        .args([
            "--tls-cert-file",
            "server.pem",
            "--tls-key-file",
            "server.key",
        ])
        .args(["--tls-ca-cert-file", "ca.pem", "--tls-auth-clients", "no"])
        .args([
            "--requirepass",
            password,
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server starts");
    TlsRedis { child, port, dir }
}

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    settings: Settings,
}

fn settings(args: &[&str]) -> Settings {
    Args::parse_from(std::iter::once("billie-dashboard").chain(args.iter().copied())).settings
}

#[tokio::test]
async fn the_ledger_is_ingested_over_rediss_with_credentials() {
    let redis = start("tls-secret");
    let url = format!("rediss://default:tls-secret@127.0.0.1:{}", redis.port);
    let ca = redis.dir.join("ca.pem");
    let client = redis_client(&settings(&[
        "--redis-url",
        &url,
        "--redis-ca-file",
        ca.to_str().unwrap(),
    ]))
    .unwrap();

    // Ready once it answers over TLS (the condition, not a fixed wait).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let conn = loop {
        match client.get_multiplexed_async_connection().await {
            Ok(conn) => break conn,
            Err(e) if tokio::time::Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("TLS Redis never answered: {e}"),
        }
    };

    let mut env = TestEnv::new().await;
    env.redis = client;
    env.conn = conn;
    env.append(&fixture_fields("conversations.jsonl")).await;
    let mut consumer = env.consumer("tls").await;
    let report = env.drain(&mut consumer).await;
    assert!(report.applied > 0);
    env.assert_expected_message_counts().await;
    assert_eq!(env.pending().await, 0);

    // The certificate is checked: without the CA, the system's roots refuse it.
    let untrusted = redis_client(&settings(&["--redis-url", &url])).unwrap();
    assert!(untrusted.get_multiplexed_async_connection().await.is_err());
    // And the password is needed.
    let wrong = format!("rediss://default:wrong@127.0.0.1:{}", redis.port);
    let anonymous = redis_client(&settings(&[
        "--redis-url",
        &wrong,
        "--redis-ca-file",
        ca.to_str().unwrap(),
    ]))
    .unwrap();
    assert!(anonymous.get_multiplexed_async_connection().await.is_err());
}

#[test]
fn a_ca_file_needs_rediss_and_a_readable_file() {
    let plain = settings(&[
        "--redis-url",
        "redis://127.0.0.1:6379",
        "--redis-ca-file",
        "/dev/null",
    ]);
    assert!(
        redis_client(&plain)
            .unwrap_err()
            .to_string()
            .contains("not rediss://")
    );
    let missing = settings(&[
        "--redis-url",
        "rediss://127.0.0.1:6379",
        "--redis-ca-file",
        "/nonexistent/ca.pem",
    ]);
    assert!(
        redis_client(&missing)
            .unwrap_err()
            .to_string()
            .starts_with("REDIS_CA_FILE /nonexistent/ca.pem")
    );
}
