//! The order endpoints.

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use platform::auth::{Caller, Scope};
use platform::http::{parse_json, read_json_body};
use serde::Serialize;
use sha2::{Digest, Sha256};
use txlog_verify::json::Plain;
use utoipa::ToSchema;
use uuid::Uuid;

use super::error::ApiError;
use super::headers::{idempotency_key, IfMatch};
use super::{list, AppState};
use crate::domain::{apply_patch, Order, OrderInput, PatchOutcome, Status};
use crate::recording::{Call, CreatedOrder, ListedOrders, OrderPath};
use crate::store::{Claim, Committed, IdempotencyKey, StoredResponse};

const READ: Scope = Scope::new("orders:read");
const WRITE: Scope = Scope::new("orders:write");
const ADMIN: Scope = Scope::new("orders:admin");
/// The `Location` of a created order is this followed by its id.
const ORDER_LOCATION: &str = "/v1/orders/";
/// Attempts of a read-modify-write without `If-Match` before giving up with 409.
const WRITE_ATTEMPTS: usize = 5;

#[derive(Serialize, ToSchema)]
pub struct OrderPage {
    items: Vec<Order>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// Create an order.
#[utoipa::path(post, path = "/v1/orders", tag = "orders", request_body = OrderInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 255 characters; replays the first response for 24 h")),
    responses(
        (status = 201, description = "Created", body = Order, headers(("Location" = String), ("ETag" = String))),
        (status = 409, description = "A request with this Idempotency-Key is in flight", body = platform::problem::ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["orders:write"])))]
pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    call: Call,
    request: Request,
) -> Result<Response, ApiError> {
    caller.require(WRITE)?;
    let key = idempotency_key(request.headers())?;
    let bytes = read_json_body(request).await?;
    let input: OrderInput = parse_json(&bytes)?;
    let (customer, content) = input.validate().map_err(ApiError::Invalid)?;
    let customer = customer.unwrap_or_else(|| caller.sub.clone());
    if customer != caller.sub && !caller.holds(ADMIN) {
        return Err(ApiError::Forbidden(
            "creating an order for another customer needs orders:admin".into(),
        ));
    }
    let key = key.map(|key| IdempotencyKey {
        caller: caller.sub.clone(),
        key,
    });
    // From here on the handler timeout lets this request finish (see platform::timeout).
    platform::timeout::begin_write();
    if let Some(replayed) = claim(&app, key.as_ref(), &bytes).await? {
        return Ok(replayed);
    }
    let order = Order::new(customer, content);
    let body = serde_json::to_vec(&order)?;
    let location = format!("{ORDER_LOCATION}{}", order.id);
    let stored = StoredResponse {
        status: 201,
        location: Some(location.clone()),
        etag: Some(order.etag()),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let event = call.event(StatusCode::CREATED, &body, &caller, order.id)?;
    let idempotency = key.as_ref().map(|k| (k, &stored));
    let committed = match app.store.orders.create(&order, idempotency, &event).await {
        Ok(committed) => committed,
        Err(e) => {
            if let Some(key) = &key {
                release(&app, key).await;
            }
            return Err(e.into());
        }
    };
    let mut response = written(committed, StatusCode::CREATED, body, &order.etag());
    response
        .headers_mut()
        .insert(header::LOCATION, header_value(&location));
    response.extensions_mut().insert(CreatedOrder(order.id));
    Ok(response)
}

/// Read one order.
#[utoipa::path(get, path = "/v1/orders/{id}", tag = "orders",
    params(("id" = Uuid, Path, description = "Order id")),
    responses(
        (status = 200, body = Order, headers(("ETag" = String))),
        (status = 404, body = platform::problem::ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["orders:read"])))]
pub async fn get(
    State(app): State<AppState>,
    caller: Caller,
    Path(path): Path<OrderPath>,
) -> Result<Response, ApiError> {
    caller.require(READ)?;
    let order = load(&app, &caller, &path).await?;
    let body = serde_json::to_vec(&order)?;
    Ok(json_response(StatusCode::OK, body, &order.etag()))
}

/// List orders, newest first.
#[utoipa::path(get, path = "/v1/orders", tag = "orders",
    params(
        ("status" = Option<Status>, Query),
        ("customer_id" = Option<String>, Query, description = "Needs orders:admin for other customers"),
        ("created_after" = Option<String>, Query, format = DateTime),
        ("created_before" = Option<String>, Query, format = DateTime),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200),
        ("cursor" = Option<String>, Query),
    ),
    responses(
        (status = 200, body = OrderPage),
    ),
    security(("bearer" = ["orders:read"])))]
pub async fn list(
    State(app): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(READ)?;
    let mut q = list::parse(query.as_deref(), &caller, caller.holds(ADMIN))?;
    let limit = q.limit as usize;
    q.limit += 1;
    let mut items = app.store.orders.list(&q).await?;
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(list::encode_cursor)
    } else {
        None
    };
    let listed = ListedOrders(items.iter().map(|order| order.id).collect());
    let mut response = Json(OrderPage { items, next_cursor }).into_response();
    response.extensions_mut().insert(listed);
    Ok(response)
}

/// Change an order with a JSON merge patch.
#[utoipa::path(patch, path = "/v1/orders/{id}", tag = "orders",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "The ETag read before")),
    request_body(content = serde_json::Value, content_type = "application/merge-patch+json",
        description = "Any of status, items, currency, shipping_address, notes"),
    responses(
        (status = 200, body = Order, headers(("ETag" = String))),
        (status = 404, body = platform::problem::ProblemDoc, content_type = "application/problem+json"),
        (status = 409, body = platform::problem::ProblemDoc, content_type = "application/problem+json"),
        (status = 412, body = platform::problem::ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["orders:write"])))]
pub async fn update(
    State(app): State<AppState>,
    caller: Caller,
    Path(path): Path<OrderPath>,
    call: Call,
    request: Request,
) -> Result<Response, ApiError> {
    caller.require(WRITE)?;
    let if_match = IfMatch::from_headers(request.headers());
    // Every key a plain key: the patch applied is the patch the text says (and the log records).
    let Plain(patch) = parse_json(&read_json_body(request).await?)?;
    for _ in 0..WRITE_ATTEMPTS {
        let order = load(&app, &caller, &path).await?;
        if_match.check(order.version)?;
        let next = match apply_patch(&order, &patch, caller.holds(ADMIN))? {
            PatchOutcome::Changed(next) => next,
            PatchOutcome::Unchanged => {
                let body = serde_json::to_vec(&order)?;
                return Ok(json_response(StatusCode::OK, body, &order.etag()));
            }
        };
        let body = serde_json::to_vec(&next)?;
        let event = call.event(StatusCode::OK, &body, &caller, next.id)?;
        platform::timeout::begin_write();
        let updated = app.store.orders.update(&next, order.version, &event);
        if let Some(committed) = updated.await? {
            return Ok(written(committed, StatusCode::OK, body, &next.etag()));
        }
        if if_match.is_given() {
            return Err(ApiError::VersionChanged);
        }
    }
    Err(ApiError::Conflict(
        "the order kept changing during this update; try again".into(),
    ))
}

/// Delete an order. Owners may delete pending or cancelled orders; admins any.
#[utoipa::path(delete, path = "/v1/orders/{id}", tag = "orders",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, body = platform::problem::ProblemDoc, content_type = "application/problem+json"),
        (status = 409, body = platform::problem::ProblemDoc, content_type = "application/problem+json"),
        (status = 412, body = platform::problem::ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["orders:write"])))]
pub async fn delete(
    State(app): State<AppState>,
    caller: Caller,
    Path(path): Path<OrderPath>,
    call: Call,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    caller.require(WRITE)?;
    let if_match = IfMatch::from_headers(&headers);
    for _ in 0..WRITE_ATTEMPTS {
        let order = load(&app, &caller, &path).await?;
        if_match.check(order.version)?;
        if !caller.holds(ADMIN) && !matches!(order.status, Status::Pending | Status::Cancelled) {
            return Err(ApiError::Conflict(format!(
                "a {} order cannot be deleted; only pending or cancelled ones",
                order.status.as_str()
            )));
        }
        let event = call.event(StatusCode::NO_CONTENT, b"", &caller, order.id)?;
        platform::timeout::begin_write();
        let deleted = app.store.orders.delete(order.id, order.version, &event);
        if let Some(committed) = deleted.await? {
            return Ok(deleted_answer(committed));
        }
        if if_match.is_given() {
            return Err(ApiError::VersionChanged);
        }
    }
    Err(ApiError::Conflict(
        "the order kept changing during this delete; try again".into(),
    ))
}

/// Claims the request's idempotency key, if it has one, or answers the request: the first
/// response replayed, or why it cannot be served now.
async fn claim(
    app: &AppState,
    key: Option<&IdempotencyKey>,
    bytes: &[u8],
) -> Result<Option<Response>, ApiError> {
    let Some(key) = key else {
        return Ok(None);
    };
    match app
        .store
        .idempotency
        .claim(key, &request_hash(bytes))
        .await?
    {
        Claim::Claimed => Ok(None),
        Claim::InFlight => Err(ApiError::IdempotencyKeyInFlight),
        Claim::Mismatch => Err(ApiError::IdempotencyKeyMismatch),
        Claim::Completed(stored) => Ok(Some(replay(stored))),
    }
}

/// Gives back an idempotency key whose create failed. When that fails too (the database is
/// away), the key stays claimed and its retries get 409 until it counts as abandoned
/// (`store::IDEMPOTENCY_IN_FLIGHT_TTL`): logged and counted, while the caller gets the create's
/// own error.
async fn release(app: &AppState, key: &IdempotencyKey) {
    if let Err(e) = app.store.idempotency.release(key).await {
        metrics::counter!("idempotency_release_failures_total").increment(1);
        tracing::warn!(
            error = platform::problem::cause_chain(&e),
            "an idempotency key could not be released; it stays claimed until it is abandoned"
        );
    }
}

/// The order if it exists and the caller may see it; "not yours" is exactly "missing".
async fn load(app: &AppState, caller: &Caller, path: &OrderPath) -> Result<Order, ApiError> {
    let id = path.order_id().ok_or(ApiError::MalformedId)?;
    match app.store.orders.get(id).await? {
        Some(order) if order.customer_id == caller.sub || caller.holds(ADMIN) => Ok(order),
        _ => Err(ApiError::NotFound),
    }
}

fn json_response(status: StatusCode, body: Vec<u8>, etag: &str) -> Response {
    let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    response
        .headers_mut()
        .insert(header::ETAG, header_value(etag));
    response
}

/// The answer of a write that changed an order (201, 200): made only from the store's proof
/// that the change committed with the call's event, which it carries to the recording layer.
fn written(committed: Committed, status: StatusCode, body: Vec<u8>, etag: &str) -> Response {
    let mut response = json_response(status, body, etag);
    response.extensions_mut().insert(committed);
    response
}

/// The answer of a delete (204), made only from the store's proof, which it carries.
fn deleted_answer(committed: Committed) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.extensions_mut().insert(committed);
    response
}

fn replay(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        stored.body.clone(),
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    if let Some(location) = &stored.location {
        headers.insert(header::LOCATION, header_value(location));
        if let Some(id) = location
            .strip_prefix(ORDER_LOCATION)
            .and_then(|id| Uuid::parse_str(id).ok())
        {
            response.extensions_mut().insert(CreatedOrder(id));
        }
    }
    if let Some(etag) = &stored.etag {
        response
            .headers_mut()
            .insert(header::ETAG, header_value(etag));
    }
    response
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The same body, however its keys are ordered or spaced, hashes the same.
fn request_hash(bytes: &[u8]) -> String {
    let canonical = txlog_verify::json::from_slice(bytes)
        .ok()
        .and_then(|v| txlog_verify::canonical::to_string(&v).ok())
        .map_or_else(|| bytes.to_vec(), String::into_bytes);
    hex::encode(Sha256::digest(canonical))
}
