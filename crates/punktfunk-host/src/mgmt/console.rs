//! The web console: the files of `web/`, embedded at build time (see build.rs), served at `/` and
//! `/assets/*`. The shell is public — it only contains the login form and code; every piece of data
//! it shows comes from the authenticated API.

use crate::mgmt::error::ApiError;
use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json" | "webmanifest") => "application/json",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The play page's policy: the console's, plus WebTransport to the host's browser endpoint (another
/// port of the same host, which `'self'` does not cover; the page only connects where the API
/// tells it to).
const PLAY_CSP: &str = "default-src 'self'; connect-src 'self' https:; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn serve(name: &str) -> Response {
    match WEB_ASSETS.iter().find(|(key, _)| *key == name) {
        Some((_, bytes)) => {
            let mut response = (
                [
                    (
                        header::CONTENT_TYPE,
                        HeaderValue::from_static(content_type(name)),
                    ),
                    // No hashed file names: the browser revalidates each time.
                    (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
                ],
                *bytes,
            )
                .into_response();
            if name == "play.html" {
                response.headers_mut().insert(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(PLAY_CSP),
                );
            }
            response
        }
        None if name == "index.html" => {
            ApiError::not_found("this host was built without the web console (web/index.html)")
                .into_response()
        }
        None => ApiError::not_found(format!("no console file {name:?}")).into_response(),
    }
}

pub async fn index() -> Response {
    serve("index.html")
}

pub async fn asset(Path(path): Path<String>) -> Response {
    serve(&path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert_eq!(content_type("app.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("icon.svg"), "image/svg+xml");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }

    #[test]
    fn the_console_is_embedded() {
        assert!(
            WEB_ASSETS.iter().any(|(k, _)| *k == "index.html"),
            "web/index.html is part of the build"
        );
    }
}
