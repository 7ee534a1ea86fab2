//! The web console (docs/console.md): plain ES modules and a style sheet, compiled into the
//! binary, served at `/` and under `/console/` unless `--no-console`. The pages call the same API
//! as any client, with the user's own token; these handlers only hand out the files, with a
//! Content-Security-Policy that lets them load nothing from anywhere but this server.

use super::error::GraphError;
use crate::app::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use sha2::{Digest, Sha256};
use std::sync::{Arc, OnceLock};

pub const ROOT: &str = "/";
pub const HOME: &str = "/console";
pub const HOME_SLASH: &str = "/console/";
pub const FILES: &str = "/console/{file}";

/// Scripts, styles, images and API calls from this origin only; no plugins, no frames, no
/// `<base>` and no form posts anywhere else.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/console/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("console.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("main.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("session.js", JS),
    asset!("profiles.js", JS),
    asset!("detail.js", JS),
    asset!("history.js", JS),
    asset!("requestlog.js", JS),
];

/// Whether `path` is the console's, served outside Graph's path rules and the request journal.
pub fn is_console_path(path: &str) -> bool {
    path == ROOT || path == HOME || path.starts_with(HOME_SLASH)
}

/// `GET /`, `GET /console` and `GET /console/`: the page.
pub async fn index(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    serve(&app, "index.html", &headers)
}

/// `GET /console/{file}`: one of the page's files.
pub async fn file(State(app): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> Response {
    let name = uri.path().strip_prefix(HOME_SLASH).unwrap_or_default();
    serve(&app, name, &headers)
}

fn serve(app: &AppState, name: &str, headers: &HeaderMap) -> Response {
    let found = ASSETS.iter().enumerate().find(|(_, a)| a.name == name).filter(|_| app.console);
    let Some((index, asset)) = found else {
        return not_found(app.console).into_response();
    };
    let etag = etag(index);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = match fresh {
        true => StatusCode::NOT_MODIFIED.into_response(),
        false => (StatusCode::OK, asset.bytes).into_response(),
    };
    let out = response.headers_mut();
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    // The files change with the binary: a browser keeps them but asks each time whether they are
    // still current, and an unchanged one costs a 304.
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(value) = HeaderValue::from_str(etag) {
        out.insert(header::ETAG, value);
    }
    out.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    out.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    out.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    out.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// The strong ETag of asset `index`: a hash of its bytes, computed once.
fn etag(index: usize) -> &'static str {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let digest = Sha256::digest(a.bytes);
                let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
                format!("\"{hex}\"")
            })
            .collect()
    });
    tags.get(index).map_or("\"\"", String::as_str)
}

fn not_found(enabled: bool) -> GraphError {
    let message = match enabled {
        true => "The web console has no such file.",
        false => "The web console is turned off (--no-console).",
    };
    GraphError {
        status: StatusCode::NOT_FOUND,
        code: "itemNotFound",
        message: message.into(),
        inner_code: None,
        retry_after: None,
        allow: None,
        cause: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_paths() {
        for path in ["/", "/console", "/console/", "/console/main.js"] {
            assert!(is_console_path(path), "{path}");
        }
        for path in ["/beta", "/consoles", "/_graphsec/", "//"] {
            assert!(!is_console_path(path), "{path}");
        }
    }

    #[test]
    fn every_asset_is_referenced_or_is_the_page() {
        let page = std::str::from_utf8(ASSETS[0].bytes).unwrap();
        let scripts: String =
            ASSETS.iter().filter(|a| a.name.ends_with(".js")).map(|a| std::str::from_utf8(a.bytes).unwrap()).collect();
        for asset in &ASSETS[1..] {
            let link = format!("/console/{}", asset.name);
            let import = format!("./{}", asset.name);
            assert!(page.contains(&link) || scripts.contains(&import), "{} is never loaded", asset.name);
        }
    }
}
