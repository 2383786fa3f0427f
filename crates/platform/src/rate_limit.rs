//! Rate limits (SPEC section 11): token buckets with a burst of twice the rate, one bucket per
//! caller (`sub`) and one per client address for calls without a valid token.
//!
//! The buckets are `governor` keyed limiters (GCRA, lock-free per key). Buckets that are full
//! again are dropped every minute, so memory follows the callers of the last moments, not every
//! caller ever seen.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::config::{optional_env, ConfigError};
use crate::Problem;

/// How often full buckets are dropped.
const CLEANUP_INTERVAL: Duration = Duration::from_secs(60);

/// A rate: `count` calls per `per` (one second or one minute), with a burst of `2 × count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: NonZeroU32,
    pub per: Duration,
}

impl Rate {
    pub fn per_second(count: u32) -> Option<Self> {
        NonZeroU32::new(count).map(|count| Self {
            count,
            per: Duration::from_secs(1),
        })
    }

    pub fn per_minute(count: u32) -> Option<Self> {
        NonZeroU32::new(count).map(|count| Self {
            count,
            per: Duration::from_secs(60),
        })
    }

    /// `100/s`, `100/m` (also `/sec`, `/second`, `/min`, `/minute`).
    pub fn parse(text: &str) -> Option<Self> {
        let (count, unit) = text.trim().split_once('/')?;
        let count: u32 = count.trim().parse().ok()?;
        match unit.trim().to_ascii_lowercase().as_str() {
            "s" | "sec" | "second" => Self::per_second(count),
            "m" | "min" | "minute" => Self::per_minute(count),
            _ => None,
        }
    }

    fn quota(self) -> Quota {
        let burst = self.count.saturating_mul(NonZeroU32::MIN.saturating_add(1));
        let quota = if self.per >= Duration::from_secs(60) {
            Quota::per_minute(self.count)
        } else {
            Quota::per_second(self.count)
        };
        quota.allow_burst(burst)
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = if self.per >= Duration::from_secs(60) {
            "m"
        } else {
            "s"
        };
        write!(f, "{}/{unit}", self.count)
    }
}

/// The rate limits of a service (`<P>_RATE_LIMIT`, `<P>_RATE_LIMIT_ANONYMOUS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Per caller (`sub`) with a valid token; `None`: unlimited.
    pub per_caller: Option<Rate>,
    /// Per client address for calls without a valid token; `None`: unlimited.
    pub anonymous: Option<Rate>,
}

impl Default for RateLimit {
    /// The SPEC's defaults: callers unlimited, anonymous calls 20/s per address.
    fn default() -> Self {
        Self {
            per_caller: None,
            anonymous: Rate::per_second(20),
        }
    }
}

impl RateLimit {
    /// No limits at all.
    pub const fn off() -> Self {
        Self {
            per_caller: None,
            anonymous: None,
        }
    }

    /// Reads `<prefix>_RATE_LIMIT` (default off) and `<prefix>_RATE_LIMIT_ANONYMOUS` (default
    /// `20/s`); each is `N/s`, `N/m` or `off`.
    pub fn from_env(prefix: &str) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        Ok(Self {
            per_caller: rate_var(&format!("{prefix}_RATE_LIMIT"), defaults.per_caller)?,
            anonymous: rate_var(
                &format!("{prefix}_RATE_LIMIT_ANONYMOUS"),
                defaults.anonymous,
            )?,
        })
    }
}

fn rate_var(var: &str, default: Option<Rate>) -> Result<Option<Rate>, ConfigError> {
    rate_setting(var, optional_env(var)?, default)
}

fn rate_setting(
    var: &str,
    value: Option<String>,
    default: Option<Rate>,
) -> Result<Option<Rate>, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) if v.trim().eq_ignore_ascii_case("off") => Ok(None),
        Some(v) => Rate::parse(&v).map(Some).ok_or_else(|| {
            ConfigError::new(
                var,
                "must be a rate like 100/s or 600/m (a positive whole number per second or per minute), or off",
            )
        }),
    }
}

/// The buckets of one service.
pub struct RateLimiter {
    per_caller: Option<DefaultKeyedRateLimiter<String>>,
    anonymous: Option<DefaultKeyedRateLimiter<IpAddr>>,
    clock: DefaultClock,
}

impl RateLimiter {
    /// Buckets for `limits`; drops full buckets every minute in the background (when called
    /// inside a Tokio runtime) for as long as the limiter lives.
    pub fn new(limits: RateLimit) -> Arc<Self> {
        let limiter = Arc::new(Self {
            per_caller: limits
                .per_caller
                .map(|r| DefaultKeyedRateLimiter::keyed(r.quota())),
            anonymous: limits
                .anonymous
                .map(|r| DefaultKeyedRateLimiter::keyed(r.quota())),
            clock: DefaultClock::default(),
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            if limiter.per_caller.is_some() || limiter.anonymous.is_some() {
                runtime.spawn(clean_up(Arc::downgrade(&limiter)));
            }
        }
        limiter
    }

    /// Takes one call from the bucket of the caller `sub`.
    pub fn check_caller(&self, sub: &str) -> Result<(), Limited> {
        match &self.per_caller {
            None => Ok(()),
            Some(limiter) => limiter
                .check_key(&sub.to_owned())
                .map_err(|not_until| Limited(not_until.wait_time_from(self.clock.now()))),
        }
    }

    /// Takes one call from the bucket of the client address `ip` (an IPv6 address counts as
    /// its /64, which one client usually holds whole).
    pub fn check_anonymous(&self, ip: IpAddr) -> Result<(), Limited> {
        match &self.anonymous {
            None => Ok(()),
            Some(limiter) => limiter
                .check_key(&client_key(ip))
                .map_err(|not_until| Limited(not_until.wait_time_from(self.clock.now()))),
        }
    }

    /// Keys currently held (both bucket kinds).
    pub fn len(&self) -> usize {
        self.per_caller.as_ref().map_or(0, |l| l.len())
            + self.anonymous.as_ref().map_or(0, |l| l.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops buckets that are full again (indistinguishable from new ones).
    pub fn retain_recent(&self) {
        if let Some(l) = &self.per_caller {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Some(l) = &self.anonymous {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

async fn clean_up(limiter: Weak<RateLimiter>) {
    let mut tick = tokio::time::interval(CLEANUP_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        match limiter.upgrade() {
            Some(limiter) => limiter.retain_recent(),
            None => return,
        }
    }
}

fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
        v4 => v4,
    }
}

/// Over the limit: the call may be retried after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited(pub Duration);

impl Limited {
    /// `Retry-After` in whole seconds, rounded up (at least 1).
    pub fn retry_after_secs(&self) -> u64 {
        let secs = self.0.as_secs() + u64::from(self.0.subsec_nanos() > 0);
        secs.max(1)
    }
}

impl IntoResponse for Limited {
    /// 429 `/problems/rate-limited` with `Retry-After`.
    fn into_response(self) -> Response {
        let secs = self.retry_after_secs();
        let mut response = Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
            format!("the rate limit is exceeded; retry in {secs} s"),
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        assert_eq!(Rate::parse("100/s"), Rate::per_second(100));
        assert_eq!(Rate::parse(" 5 / Sec "), Rate::per_second(5));
        assert_eq!(Rate::parse("600/m"), Rate::per_minute(600));
        assert_eq!(Rate::parse("1/minute"), Rate::per_minute(1));
        for bad in [
            "", "100", "0/s", "-1/s", "1.5/s", "100/h", "s/100", "100/s/m",
        ] {
            assert_eq!(Rate::parse(bad), None, "{bad:?}");
        }
        assert_eq!(Rate::per_minute(600).unwrap().to_string(), "600/m");
    }

    #[test]
    fn settings_default_parse_and_turn_off() {
        let v = "ORDERS_RATE_LIMIT_ANONYMOUS";
        let twenty = Rate::per_second(20);
        assert_eq!(rate_setting(v, None, twenty), Ok(twenty));
        assert_eq!(rate_setting(v, Some("off".into()), twenty), Ok(None));
        assert_eq!(rate_setting(v, Some("OFF".into()), twenty), Ok(None));
        assert_eq!(
            rate_setting(v, Some("100/m".into()), None),
            Ok(Rate::per_minute(100))
        );
        let e = rate_setting(v, Some("lots".into()), twenty).unwrap_err();
        assert_eq!(e.var, v);
        assert!(!e.to_string().contains("lots"), "{e}");
        assert_eq!(RateLimit::default().per_caller, None);
        assert_eq!(RateLimit::default().anonymous, twenty);
    }

    #[test]
    fn the_burst_is_twice_the_rate() {
        let limiter = RateLimiter::new(RateLimit {
            per_caller: Rate::per_minute(3),
            anonymous: Rate::per_minute(1),
        });
        for i in 0..6 {
            assert_eq!(limiter.check_caller("alice"), Ok(()), "call {i}");
        }
        let limited = limiter.check_caller("alice").unwrap_err();
        assert!(limited.0 <= Duration::from_secs(20), "{limited:?}");
        assert!(limited.retry_after_secs() >= 19, "{limited:?}");
        assert_eq!(
            limiter.check_caller("bob"),
            Ok(()),
            "buckets are per caller"
        );

        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        assert!(limiter.check_anonymous(ip).is_ok());
        assert!(limiter.check_anonymous(ip).is_ok());
        assert!(limiter.check_anonymous(ip).is_err());
        assert!(limiter
            .check_anonymous("192.0.2.8".parse().unwrap())
            .is_ok());
    }

    #[test]
    fn an_ipv6_client_is_its_slash_64() {
        let limiter = RateLimiter::new(RateLimit {
            per_caller: None,
            anonymous: Rate::per_minute(1),
        });
        for host in ["2001:db8:1:2::1", "2001:db8:1:2:ffff::9"] {
            assert!(limiter.check_anonymous(host.parse().unwrap()).is_ok());
        }
        assert!(limiter
            .check_anonymous("2001:db8:1:2::77".parse().unwrap())
            .is_err());
        assert!(limiter
            .check_anonymous("2001:db8:1:3::1".parse().unwrap())
            .is_ok());
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(client_key(mapped), "192.0.2.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn off_means_unlimited() {
        let limiter = RateLimiter::new(RateLimit::off());
        for _ in 0..1000 {
            assert!(limiter.check_caller("alice").is_ok());
            assert!(limiter.check_anonymous([127, 0, 0, 1].into()).is_ok());
        }
        assert!(limiter.is_empty());
    }

    #[test]
    fn full_buckets_are_dropped() {
        let limiter = RateLimiter::new(RateLimit {
            per_caller: Rate::per_second(1000),
            anonymous: None,
        });
        for i in 0..100 {
            limiter.check_caller(&format!("caller-{i}")).unwrap();
        }
        assert_eq!(limiter.len(), 100);
        std::thread::sleep(Duration::from_millis(50));
        limiter.retain_recent();
        assert_eq!(limiter.len(), 0);
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(Limited(Duration::from_millis(10)).retry_after_secs(), 1);
        assert_eq!(Limited(Duration::from_millis(1001)).retry_after_secs(), 2);
        assert_eq!(Limited(Duration::from_secs(3)).retry_after_secs(), 3);
        assert_eq!(Limited(Duration::ZERO).retry_after_secs(), 1);
    }
}
