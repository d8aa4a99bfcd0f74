//! Sign-in throttling: attempts are counted per account and per client address in Redis
//! (so every web process sees the same counts) for a fixed window from the first one.
//! Each attempt is counted *before* its password is checked, in one atomic step, and the
//! count decides: past the limit the password is not checked at all, with the same answer
//! whether or not the account exists. Counting after the check let a burst through: 30
//! concurrent wrong passwords all read a count of 0 and were all checked. A successful
//! sign-in takes its attempt back (it clears the account's count and uncounts itself from
//! the address's), so only failures accumulate.

use std::net::IpAddr;
use std::sync::LazyLock;
use std::time::Duration;

use redis::aio::ConnectionManager;

/// Counts one attempt on each key (`KEYS`), starting a key's window (`ARGV[1]` seconds)
/// with its first attempt; answers each key's count and seconds left. Sent by its hash
/// once Redis knows it.
static COUNT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local answer = {}
for i, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  if count == 1 then redis.call('EXPIRE', key, ARGV[1]) end
  answer[2 * i - 1] = count
  answer[2 * i] = redis.call('TTL', key)
end
return answer
",
    )
});

#[derive(Debug, Clone)]
pub struct Throttle {
    prefix: String,
    pub max_per_account: u32,
    pub max_per_address: u32,
    pub window: Duration,
}

/// What the throttle says of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Check the password.
    Allowed,
    /// Over a limit: wait this long. `first` is the window's first refused attempt (the
    /// one worth an audit entry; the rest would only grow the log).
    Refused { wait: Duration, first: bool },
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

    fn account_key(&self, email: &str) -> String {
        format!("{}:account:{email}", self.prefix)
    }

    fn address_key(&self, address: IpAddr) -> String {
        format!("{}:address:{address}", self.prefix)
    }

    /// Counts an attempt to sign in as `email` from `address`, then decides on it.
    pub async fn attempt(
        &self,
        redis: &mut ConnectionManager,
        email: &str,
        address: Option<IpAddr>,
    ) -> Result<Verdict, redis::RedisError> {
        let mut limits = vec![(self.account_key(email), self.max_per_account)];
        if let Some(address) = address {
            limits.push((self.address_key(address), self.max_per_address));
        }
        let mut script = COUNT.prepare_invoke();
        for (key, _) in &limits {
            script.key(key);
        }
        script.arg(self.window.as_secs().max(1));
        let answer: Vec<i64> = script.invoke_async(redis).await?;
        let counts = answer
            .chunks(2)
            .map(|pair| (pair[0], pair.get(1).copied().unwrap_or(1)));
        Ok(decide(limits.iter().map(|(_, max)| *max).zip(counts)))
    }

    /// A successful sign-in: the account starts afresh, and the attempt no longer counts
    /// against its address.
    pub async fn succeeded(
        &self,
        redis: &mut ConnectionManager,
        email: &str,
        address: Option<IpAddr>,
    ) -> Result<(), redis::RedisError> {
        let mut pipe = redis::pipe();
        pipe.del(self.account_key(email)).ignore();
        if let Some(address) = address {
            pipe.decr(self.address_key(address), 1).ignore();
        }
        pipe.query_async(redis).await
    }
}

/// The verdict on an attempt from each limit and the count (with the seconds left in its
/// window) that the attempt brought it to.
fn decide(limits: impl Iterator<Item = (u32, (i64, i64))>) -> Verdict {
    let mut verdict = Verdict::Allowed;
    for (max, (count, ttl)) in limits {
        if count > i64::from(max) {
            let wait = Duration::from_secs(ttl.max(1) as u64);
            let first = count == i64::from(max) + 1;
            verdict = match verdict {
                Verdict::Allowed => Verdict::Refused { wait, first },
                Verdict::Refused { wait: w, first: f } => Verdict::Refused {
                    wait: w.max(wait),
                    first: f || first,
                },
            };
        }
    }
    verdict
}

/// "3 minutes", for the message.
pub fn minutes(wait: Duration) -> String {
    match wait.as_secs().div_ceil(60) {
        1 => "1 minute".to_owned(),
        n => format!("{n} minutes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attempt_past_either_limit_is_refused_for_the_longer_wait() {
        let within = decide([(5, (5, 600)), (20, (7, 900))].into_iter());
        assert_eq!(within, Verdict::Allowed);
        let account = decide([(5, (6, 600)), (20, (7, 900))].into_iter());
        assert_eq!(
            account,
            Verdict::Refused {
                wait: Duration::from_secs(600),
                first: true
            }
        );
        let both = decide([(5, (9, 600)), (20, (21, 900))].into_iter());
        assert_eq!(
            both,
            Verdict::Refused {
                wait: Duration::from_secs(900),
                first: true
            },
            "the address's first refusal"
        );
        let again = decide([(5, (9, 600))].into_iter());
        assert_eq!(
            again,
            Verdict::Refused {
                wait: Duration::from_secs(600),
                first: false
            }
        );
    }
}
