//! The calls-per-second limit of one Twilio account (DESIGN §2.1): a token bucket that paces the
//! requests creating calls. Twilio queues calls above the account's CPS instead of refusing them,
//! so going over only grows `queue_time` and delays answers; pacing here keeps dialling honest.

use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// A token bucket refilled at `rate` tokens per second, holding at most `burst` tokens.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl RateLimiter {
    /// `per_second` must be positive; the bucket starts full with one second's worth (at least 1).
    pub fn new(per_second: f64) -> Self {
        let rate = if per_second.is_finite() && per_second > 0.0 {
            per_second
        } else {
            1.0
        };
        let burst = rate.max(1.0);
        Self {
            rate,
            burst,
            state: Mutex::new(Bucket {
                tokens: burst,
                updated: Instant::now(),
            }),
        }
    }

    /// Waits until a token is available and takes it. Callers queue on the lock, so they are
    /// served in arrival order.
    pub async fn acquire(&self) {
        let mut bucket = self.state.lock().await;
        loop {
            let now = Instant::now();
            let elapsed = now.duration_since(bucket.updated).as_secs_f64();
            bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
            bucket.updated = now;
            if bucket.tokens >= 1.0 {
                bucket.tokens -= 1.0;
                return;
            }
            let wait = (1.0 - bucket.tokens) / self.rate;
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_per_second_spaces_calls_a_second_apart() {
        let limiter = RateLimiter::new(1.0);
        let start = Instant::now();
        for _ in 0..4 {
            limiter.acquire().await;
        }
        // First is immediate, then one per second.
        assert_eq!(start.elapsed().as_secs(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn higher_rate_allows_a_burst_of_one_second() {
        let limiter = RateLimiter::new(5.0);
        let start = Instant::now();
        for _ in 0..5 {
            limiter.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        limiter.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_millis(200));
    }

    #[tokio::test(start_paused = true)]
    async fn idle_time_refills_but_not_beyond_the_burst() {
        let limiter = RateLimiter::new(2.0);
        limiter.acquire().await;
        limiter.acquire().await;
        tokio::time::sleep(Duration::from_secs(60)).await;
        let start = Instant::now();
        for _ in 0..3 {
            limiter.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::from_millis(500));
    }

    #[test]
    fn nonsense_rates_fall_back_to_one_per_second() {
        assert_eq!(RateLimiter::new(0.0).rate, 1.0);
        assert_eq!(RateLimiter::new(f64::NAN).rate, 1.0);
    }
}
