//! Integration tests against a real Redis and a real MongoDB-wire server.
//!
//! They need `TEST_REDIS_URL` (e.g. `redis://127.0.0.1:16379`) and `TEST_MONGODB_URL`
//! (a server address without a database, e.g. `mongodb://127.0.0.1:27117`); the test
//! command (`scripts/test`) starts both on free ports. Every test uses its own stream
//! names and database, so they run in parallel against the same servers.

mod accounts;
mod attention;
mod browse;
mod counts;
mod helpers;
mod ingest;
mod ledger;
mod search;
mod sessions;
mod timeline;
mod tls;
