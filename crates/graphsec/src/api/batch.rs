//! JSON batching (`POST /beta/$batch`, docs/batching.md): up to 20 requests, each routed,
//! authorised and throttled as if it had come alone, with `dependsOn` ordering and 424 for
//! requests whose dependency failed.

use super::context::RequestContext;
use super::envelope::Envelope;
use super::error::GraphError;
use super::extract::{Authenticated, JsonBody};
use super::observe::{Enclosing, add_request_ids};
use super::render::CanonicalJson;
use crate::app::AppState;
use axum::Router;
use axum::body::Body;
use axum::extract::{Extension, State};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Body as _;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use tower::ServiceExt;

pub const MAX_REQUESTS: usize = 20;

/// One validated batch item.
pub(super) struct Item {
    pub(super) id: String,
    method: Method,
    url: String,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
    pub(super) depends_on: Vec<usize>,
}

/// What every item takes from the batch request: its `Authorization`, and the origin its links
/// point at.
pub(super) struct Outer {
    headers: HeaderMap,
    origin: String,
}

/// The service a batch's items run through: the whole API but `$batch`.
#[derive(Clone)]
pub struct ItemService(pub Router);

pub async fn run(
    State(app): State<Arc<AppState>>,
    Extension(ItemService(items)): Extension<ItemService>,
    _: Authenticated,
    ctx: RequestContext,
    headers: HeaderMap,
    JsonBody(bytes): JsonBody,
) -> Result<Response, GraphError> {
    let parsed = parse(&bytes, ctx.public_host())?;
    // The parsed items (bodies, headers) live until the last answer is sent; the items' answers
    // take their own reservations as they run.
    let reservation = app.budget.reserve_exact(bytes.len() * 2).await?;
    drop(bytes);
    let order = execution_order(&parsed);
    let deadline = tokio::time::Instant::now() + app.request_timeout;
    let outer = Outer { headers, origin: ctx.origin().to_string() };
    let envelope = Envelope::new(items, outer, parsed, order, deadline, reservation);
    Ok(super::render::odata_response_body(StatusCode::OK, Body::new(envelope)))
}

fn invalid(message: String) -> GraphError {
    GraphError::bad_request(message).with_inner("invalidBatchRequest")
}

fn parse(bytes: &[u8], own_host: &str) -> Result<Vec<Item>, GraphError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| invalid(format!("The batch is not valid JSON: {e}")))?;
    let requests = value
        .get("requests")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("The batch must be an object with a 'requests' array.".into()))?;
    if requests.is_empty() || requests.len() > MAX_REQUESTS {
        return Err(invalid(format!("A batch holds 1 to {MAX_REQUESTS} requests; this one has {}.", requests.len())));
    }
    let mut items: Vec<Item> = Vec::with_capacity(requests.len());
    let mut depends_on_ids = Vec::with_capacity(requests.len());
    for (n, request) in requests.iter().enumerate() {
        let (item, depends) = parse_item(n, request, own_host, &items)?;
        items.push(item);
        depends_on_ids.push(depends);
    }
    for (i, depends) in depends_on_ids.into_iter().enumerate() {
        for dependency in depends {
            let index = items.iter().position(|other| other.id.eq_ignore_ascii_case(&dependency)).ok_or_else(|| {
                invalid(format!("Request '{}' depends on unknown request '{dependency}'.", items[i].id))
            })?;
            items[i].depends_on.push(index);
        }
    }
    if has_cycle(&items) {
        return Err(invalid("The dependsOn references form a cycle.".into()));
    }
    Ok(items)
}

/// The `n`th request of a batch, following `earlier`, and the ids it depends on.
fn parse_item(n: usize, request: &Value, own_host: &str, earlier: &[Item]) -> Result<(Item, Vec<String>), GraphError> {
    let field = |name: &str| request.get(name).and_then(Value::as_str).filter(|s| !s.is_empty());
    let id = field("id").ok_or_else(|| invalid(format!("Request {n} has no 'id'.")))?.to_string();
    if earlier.iter().any(|other| other.id.eq_ignore_ascii_case(&id)) {
        return Err(invalid(format!("The id '{id}' is used by more than one request.")));
    }
    let method = field("method")
        .and_then(|m| Method::from_bytes(m.to_ascii_uppercase().as_bytes()).ok())
        .ok_or_else(|| invalid(format!("Request '{id}' has no valid 'method'.")))?;
    let url = field("url").ok_or_else(|| invalid(format!("Request '{id}' has no 'url'.")))?;
    let url =
        relative_url(url, own_host).ok_or_else(|| invalid(format!("Request '{id}' has an invalid url '{url}'.")))?;
    if url
        .split(['?', '/'])
        .any(|segment| segment.eq_ignore_ascii_case("$batch") || segment.eq_ignore_ascii_case("%24batch"))
    {
        return Err(invalid(format!("Request '{id}': a batch cannot contain another batch.")));
    }
    let headers = item_headers(request.get("headers"), &id).map_err(invalid)?;
    let body = match request.get("body") {
        None | Some(Value::Null) => None,
        Some(_) if !headers.contains_key(header::CONTENT_TYPE) => {
            return Err(invalid(format!("Request '{id}' has a body but no Content-Type header.")));
        }
        Some(Value::String(encoded)) => Some(
            STANDARD.decode(encoded).map_err(|_| invalid(format!("Request '{id}': a string body must be base64.")))?,
        ),
        Some(other) => Some(other.to_string().into_bytes()),
    };
    let depends = match request.get("dependsOn") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|d| d.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| invalid(format!("Request '{id}': dependsOn must list request ids.")))?,
        Some(_) => return Err(invalid(format!("Request '{id}': dependsOn must be an array."))),
    };
    Ok((Item { id, method, url, headers, body, depends_on: Vec::new() }, depends))
}

/// `security/x` or `/security/x` relative to `/beta`, or an absolute URL of this very server's
/// `/beta` (the Python SDK sends those); any other absolute URL is refused. A URL is absolute
/// when it starts with a URI scheme and `://` (RFC 3986 §3.1), so a relative one may carry
/// `://` in its query (`$filter=x eq 'https://a'`). The text is taken as written, without
/// trimming, so that `/openapi.json` can state the rule as a pattern. Graph's own examples
/// write `$filter=a eq 'b'` unencoded, so characters a URI cannot hold are encoded here.
fn relative_url(url: &str, own_host: &str) -> Option<String> {
    const NOT_IN_URI: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
        .add(b' ')
        .add(b'"')
        .add(b'<')
        .add(b'>')
        .add(b'`')
        .add(b'{')
        .add(b'}')
        .add(b'|')
        .add(b'\\')
        .add(b'^');
    let mut text = url;
    if let Some((scheme, rest)) = text.split_once("://").filter(|(scheme, _)| is_scheme(scheme)) {
        let (host, path) = rest.split_once('/')?;
        let same_server = matches!(scheme, "http" | "https") && own_host.eq_ignore_ascii_case(host);
        let under_beta = path.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("beta/"));
        if !same_server || !under_beta {
            return None;
        }
        text = &path[5..];
    }
    if text.starts_with("//") || text.chars().any(char::is_control) {
        return None;
    }
    let relative = text.trim_start_matches('/');
    if relative.is_empty() {
        return None;
    }
    Some(format!("/beta/{}", percent_encoding::utf8_percent_encode(relative, NOT_IN_URI)))
}

/// `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`
fn is_scheme(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

fn item_headers(value: Option<&Value>, id: &str) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(headers);
    };
    let object = value.as_object().ok_or_else(|| format!("Request '{id}': headers must be an object."))?;
    for (name, value) in object {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err(format!("Request '{id}': header '{name}' must be a string.")),
        };
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("Request '{id}': invalid header name '{name}'."))?;
        let value =
            HeaderValue::from_str(&text).map_err(|_| format!("Request '{id}': invalid value for header '{name}'."))?;
        headers.append(name, value);
    }
    Ok(headers)
}

fn has_cycle(items: &[Item]) -> bool {
    // 0 = unvisited, 1 = on the current path, 2 = done.
    fn visit(i: usize, items: &[Item], state: &mut [u8]) -> bool {
        match state[i] {
            1 => return true,
            2 => return false,
            _ => {}
        }
        state[i] = 1;
        if items[i].depends_on.iter().any(|d| visit(*d, items, state)) {
            return true;
        }
        state[i] = 2;
        false
    }
    let mut state = vec![0u8; items.len()];
    (0..items.len()).any(|i| visit(i, items, &mut state))
}

/// Request order, moved only as far as dependencies require (they run first).
fn execution_order(items: &[Item]) -> Vec<usize> {
    fn place(i: usize, items: &[Item], done: &mut [bool], order: &mut Vec<usize>) {
        if done[i] {
            return;
        }
        done[i] = true;
        for d in &items[i].depends_on {
            place(*d, items, done, order);
        }
        order.push(i);
    }
    let mut done = vec![false; items.len()];
    let mut order = Vec::with_capacity(items.len());
    for i in 0..items.len() {
        place(i, items, &mut done, &mut order);
    }
    order
}

/// The item as a request of its own. The outer request's Authorization applies to every item
/// that does not carry its own, and its origin to all of them (the answers' links point where
/// the batch's do). The item must also finish within the batch's `deadline`.
fn item_request(outer: &Outer, item: &Item, deadline: tokio::time::Instant) -> Option<Request<Body>> {
    let mut request = Request::builder().method(item.method.clone()).uri(item.url.as_str());
    let headers = request.headers_mut()?;
    *headers = item.headers.clone();
    if !headers.contains_key(header::AUTHORIZATION)
        && let Some(value) = outer.headers.get(header::AUTHORIZATION)
    {
        headers.insert(header::AUTHORIZATION, value.clone());
    }
    let body = item.body.clone().map(Body::from).unwrap_or_else(Body::empty);
    let mut request = request.body(body).ok()?;
    request.extensions_mut().insert(Enclosing { deadline, origin: outer.origin.clone() });
    Some(request)
}

/// The ids of an answer the item service did not give: its own request-id, and its own
/// header's client-request-id, if any.
fn item_context(outer: &Outer, item_headers: &HeaderMap) -> RequestContext {
    RequestContext::new(item_headers, &outer.origin)
}

/// `error` as the answer to an item that was not run.
fn answer_unrun(outer: &Outer, item_headers: &HeaderMap, error: GraphError) -> Response {
    let ctx = item_context(outer, item_headers);
    let mut response = error.render(&ctx);
    add_request_ids(response.headers_mut(), &ctx);
    response
}

/// An item's answer, ready to be written into the envelope.
pub(super) struct Finished {
    pub(super) status: u16,
    pub(super) part: Part,
}

pub(super) enum Part {
    /// `{"id":…,"status":…,"headers":{…},"body":`, to be followed by the body's bytes and `}`.
    Streamed { head: String, body: Body },
    /// The whole item.
    Whole(String),
}

/// Runs one item through the item service, or answers 424 for it.
pub(super) async fn run_item(
    items: Router,
    outer: Arc<Outer>,
    item: Item,
    failed_dependency: bool,
    deadline: tokio::time::Instant,
) -> Finished {
    let response = match failed_dependency {
        true => answer_unrun(&outer, &item.headers, GraphError::failed_dependency()),
        false => match item_request(&outer, &item, deadline) {
            Some(request) => match items.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            },
            None => answer_unrun(
                &outer,
                &item.headers,
                GraphError::bad_request("The request could not be built from the batch item."),
            ),
        },
    };
    match embeddable(&response) {
        true => streamed(&item.id, response),
        false => whole(&item.id, response).await,
    }
}

/// The answer of an item whose handling panicked outside the item service's own guard.
pub(super) fn panicked(outer: &Outer, id: &str) -> Finished {
    tracing::error!(id, "a batch item's handler panicked");
    streamed(id, answer_unrun(outer, &HeaderMap::new(), GraphError::internal()))
}

fn head(id: &str, response: &Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let mut headers = Map::new();
    for (name, value) in response.headers() {
        // The item's length is that of its JSON in the envelope, not of its own bytes.
        if name == header::CONTENT_LENGTH {
            continue;
        }
        if let Ok(text) = value.to_str() {
            headers.insert(graph_header_name(name), Value::String(text.to_string()));
        }
    }
    (status, json!({ "id": id, "status": status, "headers": headers }))
}

/// A header's name as Graph spells it in a batch item: the SDKs look the names up as JSON keys,
/// case and all (`Content-Type`, `ETag`, `OData-Version`). Graph's own `request-id` and
/// `client-request-id` are lower case.
fn graph_header_name(name: &HeaderName) -> String {
    match name.as_str() {
        "etag" => "ETag".into(),
        "odata-version" => "OData-Version".into(),
        "odata-entityid" => "OData-EntityId".into(),
        "www-authenticate" => "WWW-Authenticate".into(),
        "request-id" | "client-request-id" => name.as_str().into(),
        other => other
            .split('-')
            .map(|word| {
                let mut chars = word.chars();
                chars.next().map(|first| first.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("-"),
    }
}

/// Our own JSON answers are embedded as they are: parsing and re-serialising them, as a
/// generic envelope must, gives the same bytes, and for a page of 1,000 profiles costs several
/// times its size in memory and a great deal of time.
fn embeddable(response: &Response) -> bool {
    response.extensions().get::<CanonicalJson>().is_some() && response.body().size_hint().exact() != Some(0)
}

/// An [`embeddable`] answer: its head now, its body's bytes as they come.
fn streamed(id: &str, response: Response) -> Finished {
    let (status, head) = head(id, &response);
    let mut head = head.to_string();
    head.pop();
    head.push_str(",\"body\":");
    Finished { status, part: Part::Streamed { head, body: response.into_body() } }
}

/// Any other answer (`$count`'s text, `$metadata`'s XML, an empty 204) is read whole: JSON is
/// inlined, anything else is base64, as Graph sends it and as the SDKs decode it.
async fn whole(id: &str, response: Response) -> Finished {
    let (status, mut out) = head(id, &response);
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    let bytes = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    if !bytes.is_empty() {
        out["body"] = match serde_json::from_slice::<Value>(&bytes) {
            Ok(json) if is_json => json,
            _ => Value::String(STANDARD.encode(&bytes)),
        };
    }
    Finished { status, part: Part::Whole(out.to_string()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_header_names_are_spelled_as_graph_spells_them() {
        for (name, graph) in [
            ("content-type", "Content-Type"),
            ("location", "Location"),
            ("etag", "ETag"),
            ("retry-after", "Retry-After"),
            ("odata-version", "OData-Version"),
            ("odata-entityid", "OData-EntityId"),
            ("cache-control", "Cache-Control"),
            ("preference-applied", "Preference-Applied"),
            ("www-authenticate", "WWW-Authenticate"),
            ("allow", "Allow"),
            ("request-id", "request-id"),
            ("client-request-id", "client-request-id"),
        ] {
            assert_eq!(graph_header_name(&HeaderName::from_static(name)), graph);
        }
    }

    async fn embedded(id: &str, response: Response) -> String {
        assert!(embeddable(&response));
        let Finished { part: Part::Streamed { head, body }, .. } = streamed(id, response) else {
            panic!("an embeddable answer is streamed");
        };
        let bytes = body.collect().await.unwrap().to_bytes();
        format!("{head}{}}}", String::from_utf8(bytes.to_vec()).unwrap())
    }

    async fn reserialised(id: &str, response: Response) -> String {
        match whole(id, response).await.part {
            Part::Whole(text) => text,
            Part::Streamed { .. } => panic!("whole answers are not streamed"),
        }
    }

    /// The same answer twice.
    async fn twice(response: Response) -> (Response, Response) {
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        (Response::from_parts(parts.clone(), Body::from(bytes.clone())), Response::from_parts(parts, Body::from(bytes)))
    }

    /// Splicing our own JSON into the envelope gives the bytes that parsing and re-serialising
    /// it gave, for everything the server renders: escapes, odd numbers, nesting, member order.
    #[tokio::test]
    async fn embedded_answers_are_the_reserialised_ones() {
        let ctx = RequestContext::new(&HeaderMap::new(), "http://localhost");
        let doc = json!({
            "id": "a\"b\\c\u{1}é\u{2028}", "z": 1, "a": [1, 2.5, -0.0, 1e300, 5e-324, 12345678901234567890u64, null],
            "nested": {"y": true, "x": {"w": "v"}}, "@odata.weird": "/",
        });
        let profile = crate::store::StoredProfile { doc: doc.to_string(), version: 3 };
        let mut entity = super::super::render::odata_response(
            StatusCode::OK,
            super::super::render::entity(&ctx, &profile, None).unwrap(),
        );
        entity.headers_mut().insert(header::ETAG, HeaderValue::from_static("W/\"3\""));
        let mut error = GraphError::not_found("x\"y").render(&ctx);
        add_request_ids(error.headers_mut(), &ctx);
        for (id, response) in [("1", entity), ("e", error)] {
            let (a, b) = twice(response).await;
            assert_eq!(embedded(id, a).await, reserialised(id, b).await);
        }
    }
}
