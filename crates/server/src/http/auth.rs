//! Who is asking: password hashing (argon2id), session cookies, the login rate limit, CSRF tokens,
//! and the extractors that put the logged-in user, the admin check and the client scope in front of
//! handlers. Scope failures answer 404, never 403, so one client cannot learn what another has.

use crate::app::App;
use crate::http::error::ApiError;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use palera_core::ids::ClientId;
use palera_core::user::Role;
use palera_store::clients::Scope;
use palera_store::users::User;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const SESSION_COOKIE: &str = "palera_session";
pub const LOGIN_CSRF_COOKIE: &str = "palera_login_csrf";

/// Hashes a password with argon2id and a random salt.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters cannot fail")
        .to_string()
}

/// Checks a password against a stored hash; malformed hashes never match.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Password hashing runs on the blocking pool, a few at a time: each argon2 run takes about
/// 19 MiB and a core for a moment, so a burst of logins (a 200-agent shift signing in at once)
/// queues here instead of taking gigabytes and every core from the call engine.
fn hashing_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(cores.clamp(1, 8))
    })
}

/// Runs one password hashing job (`hash_password` or `verify_password`) off the async
/// threads, waiting for a slot first.
pub async fn hashing<T: Send + 'static>(job: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let _slot = hashing_slots().acquire().await.ok()?;
    tokio::task::spawn_blocking(job).await.ok()
}

/// [`hash_password`] through [`hashing`], for handlers that store a new password.
pub async fn hash_new_password(password: String) -> Result<String, ApiError> {
    hashing(move || hash_password(&password))
        .await
        .ok_or_else(|| ApiError::internal(&std::io::Error::other("password hashing stopped")))
}

/// A hash to verify against when the e-mail is unknown, so both failures take the same time.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password that never matches"))
}

/// 32 random bytes, URL-safe base64: session tokens and CSRF tokens.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// What the database stores for a session token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Reads one cookie from the request headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value with the flags every cookie of ours carries.
pub fn set_cookie(name: &str, value: &str, max_age_seconds: i64, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_seconds}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Failed-login counter per (e-mail, address): after `limit` failures inside `window`, further
/// attempts are refused until the window passes.
pub struct LoginLimiter {
    limit: u32,
    window: Duration,
    failures: Mutex<HashMap<(String, IpAddr), Vec<Instant>>>,
}

impl LoginLimiter {
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn key(email: &str, ip: IpAddr) -> (String, IpAddr) {
        (email.trim().to_lowercase(), ip)
    }

    /// Seconds until another attempt is allowed, or `None` when allowed now.
    pub fn blocked_for(&self, email: &str, ip: IpAddr, now: Instant) -> Option<u64> {
        let mut map = self.failures.lock().expect("limiter lock");
        let list = map.entry(Self::key(email, ip)).or_default();
        list.retain(|t| now.duration_since(*t) < self.window);
        if list.len() as u32 >= self.limit {
            let oldest = list[0];
            Some((self.window - now.duration_since(oldest)).as_secs().max(1))
        } else {
            None
        }
    }

    pub fn record_failure(&self, email: &str, ip: IpAddr, now: Instant) {
        let mut map = self.failures.lock().expect("limiter lock");
        map.entry(Self::key(email, ip)).or_default().push(now);
        if map.len() > 100_000 {
            // Bounded memory under a spray of addresses: forget entries whose window passed.
            let window = self.window;
            map.retain(|_, v| v.last().is_some_and(|t| now.duration_since(*t) < window));
        }
    }

    pub fn clear(&self, email: &str, ip: IpAddr) {
        self.failures
            .lock()
            .expect("limiter lock")
            .remove(&Self::key(email, ip));
    }
}

/// The logged-in user of an API request (401 when absent).
#[derive(Debug, Clone)]
pub struct Auth {
    pub user: User,
    pub csrf: String,
    pub token_hash: String,
}

impl Auth {
    /// The clients this user may see.
    pub fn scope(&self) -> Scope {
        match self.user.role {
            Role::Admin => Scope::All,
            _ => Scope::Only(self.user.clients.clone()),
        }
    }

    /// 404 unless the user may see `client` (no existence leak).
    pub fn check_client(&self, client: ClientId) -> Result<(), ApiError> {
        if self.scope().allows(client) {
            Ok(())
        } else {
            Err(ApiError::not_found())
        }
    }

    /// 403 unless the user is an admin.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.user.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }

    /// May change `client`: 404 unless the user may see it (no existence leak), then 403 unless
    /// the user is an admin.
    pub fn check_admin_of(&self, client: ClientId) -> Result<(), ApiError> {
        self.check_client(client)?;
        self.require_admin()
    }

    /// 403 for agents.
    pub fn require_staff(&self) -> Result<(), ApiError> {
        if self.user.role == Role::Agent {
            Err(ApiError::forbidden())
        } else {
            Ok(())
        }
    }
}

async fn resolve(parts: &Parts, app: &App) -> Result<Option<Auth>, ApiError> {
    let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let hash = token_hash(token);
    let Some(session) = app.store.session(&hash, app.now_ms()).await? else {
        return Ok(None);
    };
    let user = match app.store.user(session.user_id).await {
        Ok(u) => u,
        Err(palera_store::StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(Some(Auth {
        user,
        csrf: session.csrf_token,
        token_hash: hash,
    }))
}

impl FromRequestParts<App> for Auth {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        if let Some(a) = parts.extensions.get::<Auth>() {
            return Ok(a.clone());
        }
        let auth = resolve(parts, app)
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        parts.extensions.insert(auth.clone());
        Ok(auth)
    }
}

/// An admin, for the admin API (401 when not logged in, 403 for other roles).
pub struct Admin(pub Auth);

impl FromRequestParts<App> for Admin {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let auth = Auth::from_request_parts(parts, app).await?;
        auth.require_admin()?;
        Ok(Admin(auth))
    }
}

/// A client named by the `client_id` path segment that the user may see (404 otherwise).
pub struct ScopedClient {
    pub auth: Auth,
    pub client: ClientId,
}

impl FromRequestParts<App> for ScopedClient {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let auth = Auth::from_request_parts(parts, app).await?;
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, app)
            .await
            .map_err(|_| ApiError::not_found())?;
        let client: ClientId = params
            .get("client_id")
            .and_then(|v| v.parse().ok())
            .ok_or_else(ApiError::not_found)?;
        auth.check_client(client)?;
        Ok(ScopedClient { auth, client })
    }
}

/// A client of the path ([`ScopedClient`]) whose supervisors and admins may act: agents get 403
/// before the request's body is read, so a refused caller never learns what the body should be.
pub struct StaffClient {
    pub auth: Auth,
    pub client: ClientId,
}

impl FromRequestParts<App> for StaffClient {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let ScopedClient { auth, client } = ScopedClient::from_request_parts(parts, app).await?;
        auth.require_staff()?;
        Ok(StaffClient { auth, client })
    }
}

impl StaffClient {
    /// The same caller and client, for helpers that take any [`ScopedClient`].
    pub fn scoped(&self) -> ScopedClient {
        ScopedClient {
            auth: self.auth.clone(),
            client: self.client,
        }
    }
}

/// A client of the path ([`ScopedClient`]) that only admins may change: others get 403 before
/// the request's body is read.
pub struct AdminClient {
    pub auth: Auth,
    pub client: ClientId,
}

impl FromRequestParts<App> for AdminClient {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let ScopedClient { auth, client } = ScopedClient::from_request_parts(parts, app).await?;
        auth.require_admin()?;
        Ok(AdminClient { auth, client })
    }
}

/// The logged-in user of a page: anonymous visitors are sent to the login page.
pub struct PageAuth(pub Auth);

impl FromRequestParts<App> for PageAuth {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        if let Some(a) = parts.extensions.get::<Auth>() {
            return Ok(PageAuth(a.clone()));
        }
        match resolve(parts, app).await {
            Ok(Some(a)) => {
                parts.extensions.insert(a.clone());
                Ok(PageAuth(a))
            }
            Ok(None) => Err(Redirect::to("/login").into_response()),
            Err(e) => Err(e.into_response()),
        }
    }
}

/// Constant-time comparison of CSRF tokens.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hashed_with_argon2id_and_verified() {
        let h = hash_password("correct horse");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn login_rate_limit_blocks_after_the_limit_and_forgets_after_the_window() {
        let l = LoginLimiter::new(3, Duration::from_secs(60));
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.blocked_for("a@x.io", ip, t0).is_none());
            l.record_failure("A@x.io", ip, t0);
        }
        assert!(l.blocked_for("a@x.io", ip, t0).is_some());
        assert!(l.blocked_for("b@x.io", ip, t0).is_none());
        assert!(l
            .blocked_for("a@x.io", ip, t0 + Duration::from_secs(61))
            .is_none());
    }

    #[test]
    fn cookies_are_read_from_the_header() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; palera_session=tok; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("tok"));
        assert_eq!(cookie(&h, "c"), None);
    }

    #[test]
    fn session_cookies_are_http_only_and_same_site() {
        let c = set_cookie(SESSION_COOKIE, "t", 60, true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.contains("Secure"));
        assert!(!set_cookie(SESSION_COOKIE, "t", 60, false).contains("Secure"));
    }
}
