//! Who may use the management API, and how they prove it.
//!
//! - **Admin token**: 256 random bits in `admin-token` (mode 0600) in the config dir, created on first
//!   start. Sent as `Authorization: Bearer <token>` and accepted **only from loopback peers**: it is
//!   for local tools (`punktfunk-host pair`, scripts); a token from anywhere else is refused with 403
//!   whether it is right or not, so it cannot be tested remotely.
//! - **Console session**: `POST /auth/login` with the console password (argon2id hash in
//!   `console-password`, mode 0600) sets the cookie `pf_session` (256-bit random id, HttpOnly, Secure,
//!   SameSite=Strict, Path=/, 12 h). Sessions live in memory only: a restart logs everyone out.
//! - **CSRF**: SameSite=Strict already keeps the cookie off cross-site requests; on top of that every
//!   state-changing request (anything but GET/HEAD/OPTIONS) authenticated by the cookie must carry
//!   `X-Punktfunk-Console: 1`. A cross-site page can only add custom headers through a CORS preflight,
//!   which this API never grants. Bearer requests need no such header (browsers never add the token).
//! - **Login rate limit**: 5 attempts per minute per peer address (IPv6 per /64), counted before the
//!   password is checked (argon2 is deliberately slow; that is CPU an attacker could spend). No
//!   global limit, which anyone could use up to lock the owner out; instead at most two password
//!   checks run at once, and the table of addresses is bounded.

use crate::mgmt::error::ApiError;
use crate::services::config_dir::write_atomic;
use anyhow::{Context, Result, bail};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::http::{HeaderMap, Method, header};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

pub const TOKEN_FILE: &str = "admin-token";
pub const PASSWORD_FILE: &str = "console-password";
pub const COOKIE_NAME: &str = "pf_session";
/// The header that marks a state-changing request as coming from the console's own scripts.
pub const CONSOLE_HEADER: &str = "x-punktfunk-console";
pub const MIN_PASSWORD_LEN: usize = 8;
/// Longer "passwords" are refused before hashing (argon2 cost grows with the input).
pub const MAX_PASSWORD_LEN: usize = 1024;
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Live console sessions kept at most; a new login evicts the one closest to expiry.
const MAX_SESSIONS: usize = 32;
const LOGIN_WINDOW: Duration = Duration::from_secs(60);
const LOGIN_PER_PEER: usize = 5;
/// Peer addresses the login limiter remembers at most (a few hundred KiB at worst).
const LOGIN_TRACKED_PEERS: usize = 4096;
/// argon2 checks running at once at most: each takes tens of milliseconds of CPU and 19 MiB, and
/// a flood of logins from many addresses must not take the whole machine.
pub const CONCURRENT_PASSWORD_CHECKS: usize = 2;

/// How a request was authenticated (an extension on authenticated requests).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    Token,
    /// The console session with this id.
    Session(String),
}

pub struct Auth {
    token: String,
    password_path: PathBuf,
    password_hash: Mutex<Option<String>>,
    /// SHA-256 of each session id → when it expires. Hashed so that a lookup's timing says nothing
    /// about how close a guessed id is to a real one.
    sessions: Mutex<HashMap<[u8; 32], Instant>>,
    limiter: Mutex<LoginLimiter>,
    /// Permits for argon2 checks (see [`CONCURRENT_PASSWORD_CHECKS`]); FIFO, so waiting is fair.
    pub password_checks: Arc<tokio::sync::Semaphore>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here is a single insert/remove/replace: a poisoned lock holds good data.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn random_hex_256() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Equal-length comparison whose time does not depend on where the first difference is.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Reads the admin token from `dir`, creating it on first start.
pub fn load_or_create_token(dir: &Path) -> Result<String> {
    let path = dir.join(TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let token = text.trim();
            if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
                bail!(
                    "{} does not hold a token (64 hex digits); remove it to create a new one",
                    path.display()
                );
            }
            warn_if_readable_by_others(&path);
            Ok(token.to_ascii_lowercase())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let token = random_hex_256();
            write_atomic(&path, format!("{token}\n").as_bytes(), true)?;
            tracing::info!(path = %path.display(), "created the management API admin token");
            Ok(token)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Reads the admin token without creating it (CLI clients of a running host).
pub fn read_token(dir: &Path) -> Result<String> {
    let path = dir.join(TOKEN_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {} (is the host running with this config dir?)",
            path.display()
        )
    })?;
    Ok(text.trim().to_string())
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(path = %path.display(), "secret file is readable by other users; chmod 600 it");
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Why a new console password was refused.
pub fn password_problem(password: &str) -> Option<String> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_LEN {
        return Some(format!(
            "the password needs at least {MIN_PASSWORD_LEN} characters"
        ));
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Some(format!(
            "the password may have at most {MAX_PASSWORD_LEN} bytes"
        ));
    }
    None
}

impl Auth {
    /// Loads (or creates) the admin token and loads the console password hash, if one was set.
    pub fn load(dir: &Path) -> Result<Auth> {
        let token = load_or_create_token(dir)?;
        let password_path = dir.join(PASSWORD_FILE);
        let password_hash = match std::fs::read_to_string(&password_path) {
            Ok(text) => {
                let hash = text.trim().to_string();
                PasswordHash::new(&hash).map_err(|e| {
                    anyhow::anyhow!(
                        "{} is not an argon2 hash ({e}); remove it and set the password again",
                        password_path.display()
                    )
                })?;
                warn_if_readable_by_others(&password_path);
                Some(hash)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(e).with_context(|| format!("reading {}", password_path.display()));
            }
        };
        Ok(Auth {
            token,
            password_path,
            password_hash: Mutex::new(password_hash),
            sessions: Mutex::default(),
            limiter: Mutex::default(),
            password_checks: Arc::new(tokio::sync::Semaphore::new(CONCURRENT_PASSWORD_CHECKS)),
        })
    }

    pub fn token_matches(&self, presented: &str) -> bool {
        constant_time_eq(
            &sha256(presented.as_bytes()),
            &sha256(self.token.as_bytes()),
        )
    }

    pub fn has_password(&self) -> bool {
        lock(&self.password_hash).is_some()
    }

    /// Checks a console password against the stored hash (slow on purpose: run it off the async
    /// threads). False when no password was ever set.
    pub fn check_password(&self, password: &str) -> bool {
        let Some(stored) = lock(&self.password_hash).clone() else {
            return false;
        };
        if password.len() > MAX_PASSWORD_LEN {
            return false;
        }
        match PasswordHash::new(&stored) {
            Ok(hash) => argon2::Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok(),
            Err(_) => false,
        }
    }

    /// Stores a new console password (argon2id, written atomically with mode 0600) and ends every
    /// console session but `keep` (the caller's): whoever else knew the old password is logged out.
    pub fn set_password(&self, password: &str, keep: Option<&str>) -> Result<()> {
        let salt_bytes: [u8; 16] = rand::random();
        let salt = SaltString::encode_b64(&salt_bytes)
            .map_err(|e| anyhow::anyhow!("encoding the salt: {e}"))?;
        let hash = argon2::Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))?
            .to_string();
        write_atomic(&self.password_path, format!("{hash}\n").as_bytes(), true)?;
        *lock(&self.password_hash) = Some(hash);
        let keep = keep.map(|id| sha256(id.as_bytes()));
        lock(&self.sessions).retain(|key, _| Some(*key) == keep);
        tracing::info!("console password changed; other console sessions ended");
        Ok(())
    }

    /// Starts a console session; returns its id (the cookie value).
    pub fn new_session(&self, now: Instant) -> String {
        let id = random_hex_256();
        let mut sessions = lock(&self.sessions);
        sessions.retain(|_, expiry| *expiry > now);
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions.iter().min_by_key(|(_, e)| **e).map(|(k, _)| *k)
        {
            sessions.remove(&oldest);
        }
        sessions.insert(sha256(id.as_bytes()), now + SESSION_LIFETIME);
        id
    }

    pub fn session_valid(&self, id: &str, now: Instant) -> bool {
        let key = sha256(id.as_bytes());
        let mut sessions = lock(&self.sessions);
        match sessions.get(&key) {
            Some(expiry) if *expiry > now => true,
            Some(_) => {
                sessions.remove(&key);
                false
            }
            None => false,
        }
    }

    pub fn end_session(&self, id: &str) {
        lock(&self.sessions).remove(&sha256(id.as_bytes()));
    }

    /// Counts a login attempt from `peer`; `Err(seconds to wait)` when over the limit.
    pub fn login_attempt(&self, peer: IpAddr, now: Instant) -> Result<(), u64> {
        lock(&self.limiter).attempt(peer, now)
    }
}

/// Sliding one-minute windows of login attempts per peer address (IPv6 per /64, see
/// [`crate::services::per_ip::limit_key`]). There is deliberately no global window: with one, anybody could
/// spend it from a few addresses and lock the owner out. CPU is bounded separately (at most
/// [`CONCURRENT_PASSWORD_CHECKS`] argon2 checks run at once).
#[derive(Default)]
struct LoginLimiter {
    per_peer: HashMap<IpAddr, VecDeque<Instant>>,
}

impl LoginLimiter {
    fn attempt(&mut self, peer: IpAddr, now: Instant) -> Result<(), u64> {
        let key = crate::services::per_ip::limit_key(peer);
        let fresh = |t: &Instant| now.saturating_duration_since(*t) < LOGIN_WINDOW;
        if let Some(times) = self.per_peer.get_mut(&key) {
            times.retain(fresh);
            if times.len() >= LOGIN_PER_PEER {
                let wait = times.front().map_or(1, |t| {
                    LOGIN_WINDOW
                        .saturating_sub(now.saturating_duration_since(*t))
                        .as_secs()
                        + 1
                });
                return Err(wait);
            }
        } else if self.per_peer.len() >= LOGIN_TRACKED_PEERS {
            self.make_room(now);
        }
        self.per_peer.entry(key).or_default().push_back(now);
        Ok(())
    }

    /// Keeps the table bounded: forgets peers whose attempts all left the window, and if that is
    /// not enough, the peer whose latest attempt is the oldest. Forgetting only ever gives a peer
    /// attempts back early; it never locks anybody out.
    fn make_room(&mut self, now: Instant) {
        self.per_peer.retain(|_, times| {
            times
                .back()
                .is_some_and(|t| now.saturating_duration_since(*t) < LOGIN_WINDOW)
        });
        while self.per_peer.len() >= LOGIN_TRACKED_PEERS {
            let Some(stalest) = self
                .per_peer
                .iter()
                .min_by_key(|(_, times)| times.back().copied())
                .map(|(key, _)| *key)
            else {
                break;
            };
            self.per_peer.remove(&stalest);
        }
    }
}

/// The value of the `pf_session` cookie, if the request carries one.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.trim().to_string())
}

/// `Set-Cookie` value that starts a console session.
pub fn session_set_cookie(id: &str) -> String {
    format!(
        "{COOKIE_NAME}={id}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age={}",
        SESSION_LIFETIME.as_secs()
    )
}

/// `Set-Cookie` value that removes the session cookie.
pub fn session_clear_cookie() -> String {
    format!("{COOKIE_NAME}=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0")
}

pub fn is_loopback(ip: IpAddr) -> bool {
    // `::ffff:127.0.0.1` is how IPv4 loopback peers look on a dual-stack socket.
    ip.to_canonical().is_loopback()
}

/// The decision for one request, separate from axum so that every branch is unit-testable.
pub fn authenticate(
    auth: &Auth,
    method: &Method,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    now: Instant,
) -> Result<AuthMethod, ApiError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().unwrap_or("");
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => {
                return Err(ApiError::unauthorized(
                    "only `Authorization: Bearer <admin token>` is accepted",
                ));
            }
        };
        if !peer.is_some_and(is_loopback) {
            return Err(ApiError::forbidden(
                "the admin token is only accepted from this machine (loopback); log in to the console instead",
            ));
        }
        return if auth.token_matches(token) {
            Ok(AuthMethod::Token)
        } else {
            Err(ApiError::unauthorized("wrong admin token"))
        };
    }
    if let Some(id) = session_cookie(headers) {
        if !auth.session_valid(&id, now) {
            return Err(ApiError::unauthorized(
                "the console session expired or is unknown; log in again",
            ));
        }
        let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        let marked = headers
            .get(CONSOLE_HEADER)
            .is_some_and(|v| v.as_bytes() == b"1");
        if !safe && !marked {
            return Err(ApiError::forbidden(
                "state-changing console requests must carry the header X-Punktfunk-Console: 1",
            ));
        }
        return Ok(AuthMethod::Session(id));
    }
    Err(ApiError::unauthorized(
        "authentication required: a console session (log in) or the admin token (Bearer, from this machine)",
    ))
}

#[cfg(test)]
mod tests;
