//! The per-address limit on unauthenticated traffic: requests that fail authentication or
//! probe a forbidden route, counted per client address (IPv4, or IPv6 /64) in this process.
//!
//! Without it one client with no key writes a full audit line per request as fast as it can
//! send them, and fills the audit disk for every partner. Over the limit such a request is
//! answered `429` and only summarised in the trail.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};

use governor::RateLimiter;
use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;

use super::Rate;

type Keyed = RateLimiter<Address, DefaultKeyedStateStore<Address>, DefaultClock>;

/// Addresses tracked at most; beyond, new addresses share one budget until idle ones are
/// swept (a spread-out flood is then limited as one client).
const MAX_ADDRESSES: usize = 100_000;

/// A client as the limit counts it: an IPv4 address, or an IPv6 /64 (one subscriber's
/// allocation, which a single attacker can rotate through freely).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Address {
    /// An IPv4 client (IPv4-mapped IPv6 included).
    V4(std::net::Ipv4Addr),
    /// The /64 prefix of an IPv6 client.
    V6Prefix(Ipv6Addr),
    /// Every new address while the table is full.
    Overflow,
}

/// The limiter; shared by every worker.
pub struct UnauthenticatedLimiter {
    current: Mutex<(Rate, Arc<Keyed>)>,
    clock: DefaultClock,
}

// === impl Address ===

impl Address {
    /// The limit's key for a client address.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self::V4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self::V4(v4),
                None => {
                    let s = v6.segments();
                    Self::V6Prefix(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
                }
            },
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::V4(v4) => write!(f, "{v4}"),
            Self::V6Prefix(p) => write!(f, "{p}/64"),
            Self::Overflow => f.write_str("overflow"),
        }
    }
}

// === impl UnauthenticatedLimiter ===

impl UnauthenticatedLimiter {
    /// A limiter at `rate` per address (the rate may change with a reload).
    pub fn new(rate: Rate) -> Self {
        Self {
            current: Mutex::new((rate, Arc::new(keyed(rate)))),
            clock: DefaultClock::default(),
        }
    }

    /// Counts one unauthenticated request from `ip`: `Ok` within the limit, else the seconds
    /// until the address may try again.
    pub fn check(&self, ip: IpAddr, rate: Rate) -> Result<(), u64> {
        let limiter = self.limiter(rate);
        let mut key = Address::of(ip);
        if limiter.len() >= MAX_ADDRESSES {
            limiter.retain_recent();
            if limiter.len() >= MAX_ADDRESSES {
                key = Address::Overflow;
            }
        }
        limiter.check_key(&key).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            wait.as_secs_f64().ceil().max(1.0) as u64
        })
    }

    /// Forgets addresses whose budget is full again (called now and then).
    pub fn sweep(&self) {
        self.limiter_now().retain_recent();
        self.limiter_now().shrink_to_fit();
    }

    /// Addresses tracked now.
    pub fn len(&self) -> usize {
        self.limiter_now().len()
    }

    /// Whether no address is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn limiter_now(&self) -> Arc<Keyed> {
        match self.current.lock() {
            Ok(c) => c.1.clone(),
            Err(poisoned) => poisoned.into_inner().1.clone(),
        }
    }

    /// The limiter for `rate`, rebuilt when a reload changed it.
    fn limiter(&self, rate: Rate) -> Arc<Keyed> {
        let mut current = match self.current.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        if current.0 != rate {
            *current = (rate, Arc::new(keyed(rate)));
        }
        current.1.clone()
    }
}

impl fmt::Debug for UnauthenticatedLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnauthenticatedLimiter")
            .field("addresses", &self.len())
            .finish()
    }
}

fn keyed(rate: Rate) -> Keyed {
    RateLimiter::dashmap(rate.quota())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: Rate = Rate {
        per_second: 0.001,
        burst: 3,
    };

    fn ip(s: &str) -> IpAddr {
        s.parse()
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
    }

    #[test]
    fn each_address_has_its_own_burst() {
        let l = UnauthenticatedLimiter::new(RATE);
        for _ in 0..3 {
            assert!(l.check(ip("192.0.2.1"), RATE).is_ok());
        }
        let retry = l.check(ip("192.0.2.1"), RATE);
        assert!(matches!(retry, Err(s) if s >= 1), "{retry:?}");
        assert!(l.check(ip("192.0.2.2"), RATE).is_ok());
    }

    #[test]
    fn ipv6_is_counted_per_64_and_mapped_ipv4_as_ipv4() {
        let l = UnauthenticatedLimiter::new(RATE);
        for host in ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::9"] {
            assert!(l.check(ip(host), RATE).is_ok());
        }
        assert!(l.check(ip("2001:db8:1:2::7"), RATE).is_err());
        assert!(l.check(ip("2001:db8:1:3::1"), RATE).is_ok());
        assert_eq!(
            Address::of(ip("::ffff:192.0.2.9")),
            Address::of(ip("192.0.2.9"))
        );
        assert_eq!(
            Address::of(ip("2001:db8:1:2::7")).to_string(),
            "2001:db8:1:2::/64"
        );
    }

    #[test]
    fn a_reload_that_changes_the_rate_applies_it() {
        let l = UnauthenticatedLimiter::new(RATE);
        for _ in 0..3 {
            assert!(l.check(ip("192.0.2.1"), RATE).is_ok());
        }
        let wider = Rate {
            per_second: 0.001,
            burst: 5,
        };
        assert!(l.check(ip("192.0.2.1"), wider).is_ok());
    }
}
