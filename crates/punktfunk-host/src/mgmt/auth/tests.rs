//! Unit tests of the console login, sessions, tokens and the admin token (`super`).

use super::*;
use axum::http::HeaderValue;

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "pf-auth-{tag}-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        map.append(*k, HeaderValue::from_str(v).unwrap());
    }
    map
}

#[test]
fn token_persists_with_mode_0600() {
    let dir = temp_dir("token");
    let a = load_or_create_token(&dir).unwrap();
    let b = load_or_create_token(&dir).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join(TOKEN_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    std::fs::write(dir.join(TOKEN_FILE), "short").unwrap();
    assert!(
        load_or_create_token(&dir).is_err(),
        "a damaged token file is not replaced silently"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bearer_only_from_loopback() {
    let dir = temp_dir("bearer");
    let auth = Auth::load(&dir).unwrap();
    let good = format!("Bearer {}", auth.token);
    let now = Instant::now();
    let loopback4: IpAddr = "127.0.0.1".parse().unwrap();
    let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
    let remote: IpAddr = "192.0.2.7".parse().unwrap();
    let get = Method::GET;
    for ip in [loopback4, mapped, "::1".parse().unwrap()] {
        let r = authenticate(
            &auth,
            &get,
            &headers(&[("authorization", &good)]),
            Some(ip),
            now,
        );
        assert_eq!(r.unwrap(), AuthMethod::Token, "{ip}");
    }
    let r = authenticate(
        &auth,
        &get,
        &headers(&[("authorization", &good)]),
        Some(remote),
        now,
    );
    assert_eq!(r.unwrap_err().status, 403);
    let r = authenticate(
        &auth,
        &get,
        &headers(&[("authorization", &good)]),
        None,
        now,
    );
    assert_eq!(r.unwrap_err().status, 403, "unknown peer is not loopback");
    let wrong = format!("Bearer {}", "0".repeat(64));
    let r = authenticate(
        &auth,
        &get,
        &headers(&[("authorization", &wrong)]),
        Some(loopback4),
        now,
    );
    assert_eq!(r.unwrap_err().status, 401);
    let r = authenticate(
        &auth,
        &get,
        &headers(&[("authorization", "Basic YWRtaW46YWRtaW4=")]),
        Some(loopback4),
        now,
    );
    assert_eq!(r.unwrap_err().status, 401);
    let r = authenticate(&auth, &get, &HeaderMap::new(), Some(loopback4), now);
    assert_eq!(r.unwrap_err().status, 401);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn cookie_sessions_need_the_console_header_to_change_state() {
    let dir = temp_dir("cookie");
    let auth = Auth::load(&dir).unwrap();
    let now = Instant::now();
    let id = auth.new_session(now);
    let remote: IpAddr = "192.0.2.7".parse().unwrap();
    let cookie = format!("theme=dark; {COOKIE_NAME}={id}");
    let plain = headers(&[("cookie", &cookie)]);
    let marked = headers(&[("cookie", &cookie), (CONSOLE_HEADER, "1")]);
    assert_eq!(
        authenticate(&auth, &Method::GET, &plain, Some(remote), now).unwrap(),
        AuthMethod::Session(id.clone())
    );
    assert_eq!(
        authenticate(&auth, &Method::POST, &plain, Some(remote), now)
            .unwrap_err()
            .status,
        403
    );
    assert!(authenticate(&auth, &Method::DELETE, &marked, Some(remote), now).is_ok());
    let later = now + SESSION_LIFETIME + Duration::from_secs(1);
    assert_eq!(
        authenticate(&auth, &Method::GET, &plain, Some(remote), later)
            .unwrap_err()
            .status,
        401,
        "sessions expire"
    );
    let id = auth.new_session(now);
    auth.end_session(&id);
    assert!(!auth.session_valid(&id, now), "logout ends the session");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn password_is_hashed_and_changing_it_ends_sessions() {
    let dir = temp_dir("password");
    let auth = Auth::load(&dir).unwrap();
    assert!(
        !auth.check_password("anything at all"),
        "no password set: nobody logs in"
    );
    let now = Instant::now();
    let id = auth.new_session(now);
    let mine = auth.new_session(now);
    auth.set_password("correct horse", Some(&mine)).unwrap();
    assert!(!auth.session_valid(&id, now), "other sessions end");
    assert!(auth.session_valid(&mine, now), "the caller's stays");
    assert!(auth.check_password("correct horse"));
    assert!(!auth.check_password("correct horsE"));
    let stored = std::fs::read_to_string(dir.join(PASSWORD_FILE)).unwrap();
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    assert!(!stored.contains("correct horse"));
    let reloaded = Auth::load(&dir).unwrap();
    assert!(reloaded.check_password("correct horse"));
    assert!(password_problem("short").is_some());
    assert!(password_problem(&"x".repeat(MAX_PASSWORD_LEN + 1)).is_some());
    assert!(password_problem("long enough").is_none());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn login_limit_is_per_peer_and_nobody_locks_out_another() {
    let mut limiter = LoginLimiter::default();
    let now = Instant::now();
    let a: IpAddr = "192.0.2.1".parse().unwrap();
    for _ in 0..LOGIN_PER_PEER {
        assert!(limiter.attempt(a, now).is_ok());
    }
    let wait = limiter.attempt(a, now).unwrap_err();
    assert!((1..=61).contains(&wait), "{wait}");
    assert!(
        limiter.attempt(a, now + LOGIN_WINDOW).is_ok(),
        "the window slides"
    );
    // Many addresses spending their whole budget leave the owner's untouched.
    let mut limiter = LoginLimiter::default();
    for i in 0..50u8 {
        let ip = IpAddr::from([10, 0, 0, i]);
        for _ in 0..LOGIN_PER_PEER {
            assert!(limiter.attempt(ip, now).is_ok());
        }
    }
    assert!(limiter.attempt("192.0.2.200".parse().unwrap(), now).is_ok());
    // One IPv6 /64 is one peer.
    let mut limiter = LoginLimiter::default();
    for i in 0..LOGIN_PER_PEER {
        let ip: IpAddr = format!("2001:db8::{:x}", i + 1).parse().unwrap();
        assert!(limiter.attempt(ip, now).is_ok());
    }
    assert!(
        limiter
            .attempt("2001:db8::ffff".parse().unwrap(), now)
            .is_err()
    );
}

#[test]
fn login_limiter_memory_is_bounded_and_keeps_recent_peers() {
    let mut limiter = LoginLimiter::default();
    let start = Instant::now();
    let owner: IpAddr = "192.0.2.1".parse().unwrap();
    for _ in 0..LOGIN_PER_PEER {
        assert!(limiter.attempt(owner, start).is_ok());
    }
    // A flood of fresh addresses, each newer than the owner's attempts.
    for i in 0..(2 * LOGIN_TRACKED_PEERS as u32) {
        let ip = IpAddr::from((0x0a00_0000u32 + i).to_be_bytes());
        let _ = limiter.attempt(ip, start + Duration::from_millis(1 + u64::from(i) / 1000));
    }
    assert!(limiter.per_peer.len() <= LOGIN_TRACKED_PEERS);
    // Evicting gives attempts back early; it never refuses anybody.
    assert!(
        limiter
            .attempt(owner, start + Duration::from_secs(5))
            .is_ok()
    );
}

proptest::proptest! {
    #[test]
    fn hostile_headers_never_panic_and_never_authenticate(
        authorization in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
        cookie in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
        console in proptest::collection::vec(proptest::num::u8::ANY, 0..8),
        loopback in proptest::bool::ANY,
    ) {
        let auth = shared_auth();
        let mut map = HeaderMap::new();
        for (name, bytes) in [("authorization", &authorization), ("cookie", &cookie), (CONSOLE_HEADER, &console)] {
            if let Ok(value) = HeaderValue::from_bytes(bytes) {
                map.insert(name, value);
            }
        }
        let peer: IpAddr = if loopback { "127.0.0.1" } else { "192.0.2.9" }.parse().unwrap();
        let result = authenticate(auth, &Method::POST, &map, Some(peer), Instant::now());
        proptest::prop_assert!(result.is_err(), "random headers authenticated: {map:?}");
    }

    #[test]
    fn issued_cookies_parse_back(n in 0usize..4) {
        let auth = shared_auth();
        let now = Instant::now();
        let id = auth.new_session(now);
        let set = session_set_cookie(&id);
        let pair = set.split(';').next().unwrap();
        let mut header = String::new();
        for i in 0..n {
            header.push_str(&format!("other{i}=x; "));
        }
        header.push_str(pair);
        let map = headers(&[("cookie", &header)]);
        proptest::prop_assert_eq!(session_cookie(&map), Some(id.clone()));
        proptest::prop_assert!(auth.session_valid(&id, now));
    }
}

/// One store for all proptest cases (loading hashes nothing, but creates files).
fn shared_auth() -> &'static Auth {
    static AUTH: std::sync::OnceLock<Auth> = std::sync::OnceLock::new();
    AUTH.get_or_init(|| {
        let dir = temp_dir("prop");
        let auth = Auth::load(&dir).unwrap();
        let _ = std::fs::remove_dir_all(dir);
        auth
    })
}

#[test]
fn cookie_parsing_tolerates_junk() {
    assert_eq!(
        session_cookie(&headers(&[("cookie", "a=b;pf_session=xyz")])).as_deref(),
        Some("xyz")
    );
    assert_eq!(
        session_cookie(&headers(&[("cookie", "pf_sessionx=1; junk")])),
        None
    );
    assert_eq!(session_cookie(&HeaderMap::new()), None);
}
