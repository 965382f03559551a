//! The HTTP API over any [`Kv`]: routing, headers, bodies, CORS, and every answer's status
//! and body, in one service that memory and Redis share line for line.
//!
//! Handlers are thin: they read the request into the arguments of a [`SyncStore`] method and
//! turn its result into an answer; every refusal is an [`ApiError`], mapped to its status in
//! one place ([`respond_error`]).

use crate::auth::Auth;
use crate::error::ApiError;
use crate::json::{move_body, put_body};
use crate::kv::Kv;
use crate::sync::{Idempotency, Precondition, Settings, SyncStore, Written, MAX_WAIT_MS};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use futures_util::FutureExt;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use sha2::{Digest, Sha256};
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::Arc;
use wasm_session_store::{Clock, SessionId};

/// The default body limit: 4 MiB, so a 1 MiB state (escaped, or sealed) syncs.
pub const DEFAULT_MAX_BODY: usize = 4 << 20;

/// The most header bytes (names and values) a request may carry.
pub const MAX_HEADER_BYTES: usize = 32 << 10;

/// The answers' body type.
pub type Body = Full<Bytes>;

/// What the service is configured with.
#[derive(Clone, Debug)]
pub struct Config {
    /// Who a request is for.
    pub auth: Auth,
    /// The body limit (`--max-body`).
    pub max_body: usize,
    /// What shapes the stored data.
    pub settings: Settings,
    /// The origins answered with CORS (`--allow-origin`).
    pub origins: Vec<String>,
}

/// The service of one worker: the storage, the clock and the configuration.
pub struct App<K> {
    kv: K,
    clock: Rc<dyn Clock>,
    config: Arc<Config>,
}

impl<K: Kv> App<K> {
    /// A service over `kv` reading `clock`.
    pub fn new(kv: K, clock: Rc<dyn Clock>, config: Arc<Config>) -> Self {
        App { kv, clock, config }
    }
}

/// What the API's routes are.
enum Route<'a> {
    Session(&'a str, &'a str),
    Move(&'a str, &'a str),
    Changes(&'a str),
}

fn route_of(path: &str) -> Option<Route<'_>> {
    let rest = path.strip_prefix("/v1/stores/")?;
    let mut parts = rest.split('/');
    let name = parts.next()?;
    match (parts.next()?, parts.next(), parts.next(), parts.next()) {
        ("sessions", Some(id), None, None) => Some(Route::Session(name, id)),
        ("sessions", Some(id), Some("move"), None) => Some(Route::Move(name, id)),
        ("changes", None, None, None) => Some(Route::Changes(name)),
        _ => None,
    }
}

/// Answers `req`: the whole service. A panic below is a 500, and the worker goes on.
pub async fn handle<K: Kv>(
    app: Rc<App<K>>,
    req: Request<Incoming>,
) -> Result<Response<Body>, std::convert::Infallible> {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .filter(|o| {
            app.config
                .origins
                .iter()
                .any(|a| a.as_bytes() == o.as_bytes())
        })
        .cloned();
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if preflight && origin.is_some() {
        let mut r = Response::new(Body::default());
        *r.status_mut() = StatusCode::NO_CONTENT;
        let h = r.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, PUT, DELETE, POST"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(
                "If-Match, If-None-Match, Idempotency-Key, Authorization, Content-Type",
            ),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        r
    } else {
        match AssertUnwindSafe(serve(&app, req)).catch_unwind().await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => respond_error(&e),
            // The default panic hook has printed where; the request gets its 500.
            Err(_) => respond_error(&ApiError::Internal),
        }
    };
    if let Some(origin) = origin {
        let h = response.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("ETag, Retry-After"),
        );
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    Ok(response)
}

/// The answer of an error: its status, `{ code, message, ... }`, and its headers.
pub fn respond_error(e: &ApiError) -> Response<Body> {
    let mut r = json_response(e.status(), e.body());
    let h = r.headers_mut();
    if let Some(etag) = e.etag() {
        h.insert(header::ETAG, quoted(etag));
    }
    if let Some(seconds) = e.retry_after() {
        h.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    if e.status() == 401 {
        h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    r
}

fn json_response(status: u16, body: String) -> Response<Body> {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn quoted(etag: &str) -> HeaderValue {
    // Stamps are base64url: always a valid header value.
    HeaderValue::from_str(&format!("\"{etag}\"")).unwrap_or(HeaderValue::from_static("\"\""))
}

fn written(w: Written) -> Response<Body> {
    let mut r = match w.body {
        Some(body) => json_response(w.status, body),
        None => {
            let mut r = Response::new(Body::default());
            *r.status_mut() = StatusCode::from_u16(w.status).unwrap_or(StatusCode::NO_CONTENT);
            r
        }
    };
    if let Some(etag) = w.etag {
        r.headers_mut().insert(header::ETAG, quoted(&etag));
    }
    r
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Result<Option<&str>, ApiError> {
    match headers.get(&name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(|s| Some(s.trim()))
            .map_err(|_| ApiError::invalid(format!("the {name} header is not visible ASCII"))),
    }
}

/// An ETag as sent, unquoted (an unquoted or weak one never matches a stamp).
fn unquote(etag: &str) -> String {
    etag.strip_prefix('"')
        .and_then(|e| e.strip_suffix('"'))
        .unwrap_or(etag)
        .to_owned()
}

/// The precondition of a PUT: `If-None-Match: *` or `If-Match: <etag>`; 428 without either.
fn put_precondition(headers: &HeaderMap) -> Result<Precondition, ApiError> {
    match (
        header_text(headers, header::IF_MATCH)?,
        header_text(headers, header::IF_NONE_MATCH)?,
    ) {
        (Some(_), Some(_)) => Err(ApiError::invalid(
            "a PUT takes If-Match or If-None-Match, not both",
        )),
        (None, Some("*")) => Ok(Precondition::Absent),
        (None, Some(_)) => Err(ApiError::invalid(
            "a PUT's If-None-Match is * (create only when absent)",
        )),
        (Some(etag), None) => Ok(Precondition::Match(unquote(etag))),
        (None, None) => Err(ApiError::PreconditionRequired),
    }
}

/// The ETag of `If-Match` for a DELETE or a move; 428 without it.
fn match_precondition(headers: &HeaderMap) -> Result<String, ApiError> {
    if header_text(headers, header::IF_NONE_MATCH)?.is_some() {
        return Err(ApiError::invalid(
            "a DELETE or a move takes If-Match: <etag>, not If-None-Match",
        ));
    }
    match header_text(headers, header::IF_MATCH)? {
        Some(etag) => Ok(unquote(etag)),
        None => Err(ApiError::PreconditionRequired),
    }
}

/// The Idempotency-Key of a write, with a digest of what it came with.
fn idempotency(
    headers: &HeaderMap,
    method: &Method,
    body: &str,
) -> Result<Option<Idempotency>, ApiError> {
    let Some(key) = header_text(headers, header::HeaderName::from_static("idempotency-key"))?
    else {
        return Ok(None);
    };
    if key.is_empty() || key.len() > 255 {
        return Err(ApiError::invalid(
            "an Idempotency-Key is 1 to 255 visible ASCII characters",
        ));
    }
    let mut digest = Sha256::new();
    for part in [
        method.as_str(),
        header_text(headers, header::IF_MATCH)?.unwrap_or(""),
        header_text(headers, header::IF_NONE_MATCH)?.unwrap_or(""),
        body,
    ] {
        digest.update((part.len() as u64).to_le_bytes());
        digest.update(part.as_bytes());
    }
    Ok(Some(Idempotency {
        key: key.to_owned(),
        fingerprint: URL_SAFE_NO_PAD.encode(digest.finalize()),
    }))
}

/// The body of a write, as text: JSON within the limit, UTF-8.
/// How much of a body refused as too large is still read (and dropped) before the 413.
const DRAIN_BYTES: usize = 8 << 20;

async fn read_body(
    req: Request<Incoming>,
    max: usize,
) -> Result<(HeaderMap, Method, String), ApiError> {
    let json = header_text(req.headers(), header::CONTENT_TYPE)?.is_some_and(|t| {
        t.split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
    });
    if !json {
        return Err(ApiError::invalid(
            "a request body must be Content-Type: application/json",
        ));
    }
    let too_large = || ApiError::TooLarge(format!("the body is over the limit of {max} bytes"));
    let declared = header_text(req.headers(), header::CONTENT_LENGTH)?;
    let mut over = declared
        .and_then(|n| n.parse::<u64>().ok())
        .is_some_and(|n| n > max as u64);
    let (parts, mut body) = req.into_parts();
    // Chunked bodies too: counted as they arrive, refused past the limit. A body refused is
    // still read (and dropped) up to DRAIN_BYTES past the limit before the 413 goes out: a
    // client that sends its whole body before it reads the answer (WebKit) otherwise sees the
    // connection reset, a network error, rather than the 413. Past that the connection closes.
    let drain = max.saturating_add(DRAIN_BYTES);
    let mut kept = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| ApiError::invalid(format!("the body could not be read: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(data.len());
        over |= seen > max;
        if over {
            if seen > drain {
                break;
            }
        } else {
            kept.extend_from_slice(&data);
        }
    }
    if over {
        return Err(too_large());
    }
    let text = String::from_utf8(kept).map_err(|_| ApiError::invalid("the body is not UTF-8"))?;
    Ok((parts.headers, parts.method, text))
}

fn session_id(id: &str) -> Result<SessionId, ApiError> {
    Ok(SessionId::new(id)?)
}

/// The `since` and `wait` of a changes query.
fn changes_query(query: &str) -> Result<(Option<&str>, u64), ApiError> {
    let (mut since, mut wait) = (None, 0);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "since" => since = Some(value).filter(|v| !v.is_empty()),
            "wait" => {
                wait = value
                    .parse::<u64>()
                    .ok()
                    .filter(|w| *w <= MAX_WAIT_MS && value.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| {
                        ApiError::invalid("wait is a whole number of ms, at most 30000")
                    })?;
            }
            _ => {}
        }
    }
    Ok((since, wait))
}

async fn serve<K: Kv>(app: &App<K>, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return Err(ApiError::HeadersTooLarge(MAX_HEADER_BYTES));
    }
    let path = req.uri().path().to_owned();
    let route = route_of(&path).ok_or(ApiError::NoRoute(404))?;
    let method = req.method().clone();
    let allowed = match route {
        Route::Session(..) => [Method::GET, Method::PUT, Method::DELETE].contains(&method),
        Route::Move(..) => method == Method::POST,
        Route::Changes(..) => method == Method::GET,
    };
    if !allowed {
        return Err(ApiError::NoRoute(405));
    }
    let owner = app.config.auth.owner(
        req.headers()
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes),
    )?;
    let name = match route {
        Route::Session(name, _) | Route::Move(name, _) | Route::Changes(name) => name,
    };
    let store = SyncStore::open(
        app.kv.clone(),
        &owner,
        name,
        app.clock.clone(),
        &app.config.settings,
    )?;
    match route {
        Route::Changes(_) => {
            let (since, wait) = changes_query(req.uri().query().unwrap_or(""))?;
            let changes = store.changes(since, wait).await?;
            let mut body = String::from("{\"changes\":[");
            for (i, (id, etag)) in changes.changes.iter().enumerate() {
                if i > 0 {
                    body.push(',');
                }
                body.push_str("{\"id\":");
                crate::json::push_str(&mut body, id);
                body.push_str(",\"etag\":");
                match etag {
                    Some(etag) => crate::json::push_str(&mut body, &format!("\"{etag}\"")),
                    None => body.push_str("null"),
                }
                body.push('}');
            }
            body.push_str("],\"cursor\":");
            crate::json::push_str(&mut body, &changes.cursor);
            body.push('}');
            Ok(json_response(200, body))
        }
        Route::Session(_, id) if method == Method::GET => {
            let id = session_id(id)?;
            let tagged = store.get(&id).await?;
            let unchanged = header_text(req.headers(), header::IF_NONE_MATCH)?.is_some_and(|v| {
                v.split(',')
                    .any(|e| e.trim() == "*" || unquote(e.trim()) == tagged.etag)
            });
            let mut r = if unchanged {
                let mut r = Response::new(Body::default());
                *r.status_mut() = StatusCode::NOT_MODIFIED;
                r
            } else {
                json_response(200, tagged.json())
            };
            r.headers_mut().insert(header::ETAG, quoted(&tagged.etag));
            Ok(r)
        }
        Route::Session(_, id) if method == Method::DELETE => {
            let id = session_id(id)?;
            let etag = match_precondition(req.headers())?;
            let idem = idempotency(req.headers(), &method, "")?;
            Ok(written(store.delete(&id, etag, idem.as_ref()).await?))
        }
        Route::Session(_, id) => {
            let id = session_id(id)?;
            let pre = put_precondition(req.headers())?;
            let (headers, method, text) = read_body(req, app.config.max_body).await?;
            let body = put_body(&text)?;
            let idem = idempotency(&headers, &method, &text)?;
            Ok(written(store.put(&id, &pre, body, idem.as_ref()).await?))
        }
        Route::Move(_, id) => {
            let id = session_id(id)?;
            // The body first (400), then If-Match (412), then the target (409).
            let (headers, method, text) = read_body(req, app.config.max_body).await?;
            let to = session_id(&move_body(&text)?)?;
            if to == id {
                return Err(ApiError::invalid("a move's to must differ from the id"));
            }
            let etag = match_precondition(&headers)?;
            let idem = idempotency(&headers, &method, &text)?;
            Ok(written(store.move_to(&id, to, etag, idem.as_ref()).await?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_exact() {
        assert!(matches!(
            route_of("/v1/stores/app/sessions/a"),
            Some(Route::Session("app", "a"))
        ));
        assert!(matches!(
            route_of("/v1/stores/app/sessions/a/move"),
            Some(Route::Move("app", "a"))
        ));
        assert!(matches!(
            route_of("/v1/stores/app/changes"),
            Some(Route::Changes("app"))
        ));
        for bad in [
            "/",
            "/v1/stores/app",
            "/v1/stores/app/sessions",
            "/v1/stores/app/sessions/a/b",
            "/v1/stores/app/changes/x",
            "/v2/stores/app/changes",
        ] {
            assert!(route_of(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn changes_queries_are_checked() {
        assert_eq!(changes_query("").unwrap(), (None, 0));
        assert_eq!(changes_query("since=&wait=10").unwrap(), (None, 10));
        assert_eq!(changes_query("since=x.1").unwrap(), (Some("x.1"), 0));
        for bad in ["wait=30001", "wait=-1", "wait=1.5", "wait=+5", "wait="] {
            assert!(changes_query(bad).is_err(), "{bad}");
        }
    }
}
