//! Sign-in throttling: failed attempts are counted per account and per client address in
//! Redis (so every web process sees the same counts) for a fixed window from the first
//! failure. Past the limit, sign-in is refused without checking the password, with the
//! same answer whether or not the account exists.

use std::net::IpAddr;
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::ConnectionManager;

#[derive(Debug, Clone)]
pub struct Throttle {
    prefix: String,
    pub max_per_account: u32,
    pub max_per_address: u32,
    pub window: Duration,
}

impl Throttle {
    pub fn new(prefix: &str, max_per_account: u32, max_per_address: u32, window: Duration) -> Self {
        Self {
            prefix: format!("{prefix}:login-failures"),
            max_per_account,
            max_per_address,
            window,
        }
    }

    fn keys(&self, email: &str, address: Option<IpAddr>) -> (String, Option<String>) {
        (
            format!("{}:account:{email}", self.prefix),
            address.map(|a| format!("{}:address:{a}", self.prefix)),
        )
    }

    /// How long the caller must wait, if they are over a limit.
    pub async fn wait(
        &self,
        redis: &mut ConnectionManager,
        email: &str,
        address: Option<IpAddr>,
    ) -> Result<Option<Duration>, redis::RedisError> {
        let (account, by_address) = self.keys(email, address);
        let mut checks = vec![(account, self.max_per_account)];
        if let Some(key) = by_address {
            checks.push((key, self.max_per_address));
        }
        let mut wait = None;
        for (key, max) in checks {
            let failures: Option<u32> = redis.get(&key).await?;
            if failures.unwrap_or(0) >= max {
                let ttl: i64 = redis.ttl(&key).await?;
                let left = Duration::from_secs(ttl.max(1) as u64);
                wait = Some(wait.map_or(left, |w: Duration| w.max(left)));
            }
        }
        Ok(wait)
    }

    /// Counts a failed attempt.
    pub async fn failed(
        &self,
        redis: &mut ConnectionManager,
        email: &str,
        address: Option<IpAddr>,
    ) -> Result<(), redis::RedisError> {
        let (account, by_address) = self.keys(email, address);
        for key in std::iter::once(account).chain(by_address) {
            let count: u32 = redis.incr(&key, 1).await?;
            if count == 1 {
                let _: bool = redis.expire(&key, self.window.as_secs() as i64).await?;
            }
        }
        Ok(())
    }

    /// A successful sign-in clears the account's count (not the address's).
    pub async fn succeeded(
        &self,
        redis: &mut ConnectionManager,
        email: &str,
    ) -> Result<(), redis::RedisError> {
        let (account, _) = self.keys(email, None);
        let _: usize = redis.del(account).await?;
        Ok(())
    }
}

/// "3 minutes", for the message.
pub fn minutes(wait: Duration) -> String {
    match wait.as_secs().div_ceil(60) {
        1 => "1 minute".to_owned(),
        n => format!("{n} minutes"),
    }
}
