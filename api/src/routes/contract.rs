//! What the OpenAPI document says about every route beyond its own annotations, in one
//! place, so that no route can forget it: the error answers each kind of route can give
//! (with the problem-details body, `x-request-id` and, on 503, `Retry-After`), the request
//! id header, the links a client follows from what it created, the configured provider
//! names, and the table of problem types.

use openapi::error::{ErrorCode, PROBLEM_CONTENT_TYPE};
use openapi::webhooks::CALLBACK_URL_PATTERN;
use serde_json::{Map, Value, json};

use crate::error::RETRY_AFTER_UNAVAILABLE_SECONDS;

/// The keys of a path item that hold operations.
const METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options"];

/// Statuses every operation can answer whatever it does: the request timeout's 503.
const ALWAYS: &[u16] = &[503];
/// Statuses of operations behind the API key: no valid key, or over the tenant's rate.
const SECURED: &[u16] = &[401, 429];
/// Statuses of operations that read a JSON body.
const WITH_BODY: &[u16] = &[400, 413, 415, 422];
/// Statuses of operations with parameters.
const WITH_PARAMETERS: &[u16] = &[400];
/// Statuses of operations on one resource named in the path.
const WITH_PATH: &[u16] = &[404];

/// Where a created resource leads: (operation that creates, status, links to operations
/// taking its `id`).
const LINKS: &[(&str, &str, &[&str])] = &[
    ("submitWebhook", "202", &["getWebhook", "redeliverWebhook"]),
    ("redeliverWebhook", "202", &["getWebhook"]),
    (
        "createStream",
        "201",
        &[
            "getStream",
            "stopStream",
            "startStream",
            "getStreamData",
            "listStreamBatches",
        ],
    ),
];

/// The document the routes' annotations make, completed (see the module documentation),
/// with `providers` as the configured providers' names. Completed as JSON and served as
/// such: utoipa's types cannot say everything completed here (`items: {}`).
pub fn document(openapi: &utoipa::openapi::OpenApi, providers: &[String]) -> Value {
    let mut doc = serde_json::to_value(openapi).expect("the document is JSON");
    complete(&mut doc, providers);
    doc
}

/// `doc` as an instance with open access serves it: a data route takes a request without a
/// key (as the `default` tenant) as well as one with a key, so its key is optional; the
/// operator's routes (`/v1/admin/…`) still require one.
pub fn open_access(doc: &mut Value) {
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        if path.starts_with("/v1/admin/") {
            continue;
        }
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, operation) in item.iter_mut() {
            if METHODS.contains(&method.as_str()) && operation.get("security").is_some() {
                // `{}`: no requirement, one of the alternatives.
                operation["security"] = json!([{}, {"api_key": []}]);
            }
        }
    }
}

fn complete(doc: &mut Value, providers: &[String]) {
    if let Some(paths) = doc["paths"].as_object_mut() {
        for item in paths.values_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, operation) in item.iter_mut() {
                if METHODS.contains(&method.as_str()) {
                    complete_operation(operation);
                }
            }
        }
    }
    add_links(doc);
    any_items(&mut doc["components"]);
    no_control_characters(&mut doc["paths"]);
    no_control_characters(&mut doc["components"]);
    // The pattern the server checks, which an attribute cannot name.
    doc["components"]["schemas"]["SubmitWebhook"]["properties"]["callbackUrl"]["pattern"] =
        Value::String(CALLBACK_URL_PATTERN.to_owned());
    doc["components"]["schemas"]["ProviderName"] = json!({
        "type": "string",
        "description": "A configured provider's name.",
        "enum": providers,
        "example": providers.first(),
    });
    let table: Vec<String> = ErrorCode::ALL
        .iter()
        .map(|code| {
            let info = code.describe();
            format!(
                "| `{}` | `{}` | {} | {} |",
                code.type_uri(),
                info.name,
                info.status,
                info.title
            )
        })
        .collect();
    if let Some(description) = doc["info"]["description"].as_str() {
        doc["info"]["description"] = Value::String(format!(
            "{description}\n\n| type | code | status | title |\n|---|---|---|---|\n{}",
            table.join("\n")
        ));
    }
}

/// Control characters refused at the edge, as a JSON Schema pattern.
const NO_CONTROL_CHARACTERS: &str = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$";

/// Says of every free-form string (no pattern, format or list of values of its own) what
/// the edge checks of every path and query parameter and body field: no control character.
/// Headers are not checked there (`x-request-id` is echoed, not stored), so not said of them.
fn no_control_characters(value: &mut Value) {
    match value {
        Value::Object(members) => {
            if members.get("in").is_some_and(|at| at == "header") {
                return;
            }
            let string = match members.get("type") {
                Some(Value::String(kind)) => kind == "string",
                Some(Value::Array(kinds)) => kinds.iter().any(|k| k == "string"),
                _ => false,
            };
            let free = ["pattern", "format", "enum", "const"]
                .iter()
                .all(|key| !members.contains_key(*key));
            if string && free {
                members.insert("pattern".into(), NO_CONTROL_CHARACTERS.into());
            }
            members
                .iter_mut()
                .filter(|(key, _)| key.as_str() != "headers")
                .for_each(|(_, member)| no_control_characters(member));
        }
        Value::Array(items) => items.iter_mut().for_each(no_control_characters),
        _ => {}
    }
}

fn complete_operation(operation: &mut Value) {
    let has_body = operation.get("requestBody").is_some();
    let mut parameters = operation["parameters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for parameter in &mut parameters {
        not_null(&mut parameter["schema"]);
    }
    let has_path = parameters.iter().any(|p| p["in"] == "path");
    let secured = operation["security"]
        .as_array()
        .is_some_and(|s| s.iter().any(|r| r.get("api_key").is_some()));
    let mut implied: Vec<u16> = ALWAYS.to_vec();
    for (applies, statuses) in [
        (secured, SECURED),
        (has_body, WITH_BODY),
        (!parameters.is_empty(), WITH_PARAMETERS),
        (has_path, WITH_PATH),
    ] {
        if applies {
            implied.extend_from_slice(statuses);
        }
    }
    let responses = operation["responses"]
        .as_object_mut()
        .expect("every operation has responses");
    for status in implied {
        responses
            .entry(status.to_string())
            .or_insert_with(|| json!({ "description": default_description(status) }));
    }
    for (status, response) in responses.iter_mut() {
        complete_response(status, response);
    }
    let request_id = json!({
        "name": "x-request-id",
        "in": "header",
        "required": false,
        "description": "The request's id, echoed in the answer and in every log line of the \
                        request; the server makes a ULID when none is sent.",
        "schema": {"type": "string"}
    });
    let mut all = parameters;
    all.push(request_id);
    operation["parameters"] = Value::Array(all);
}

/// A parameter is absent or has a value: an optional one is not `null`, which a query
/// string or a header cannot say.
fn not_null(schema: &mut Value) {
    if let Some(types) = schema["type"].as_array() {
        let types: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
        schema["type"] = match types.as_slice() {
            [one] => one.clone(),
            _ => Value::Array(types),
        };
    }
    if let Some(one_of) = schema["oneOf"].as_array() {
        let kept: Vec<Value> = one_of
            .iter()
            .filter(|s| s["type"] != "null")
            .cloned()
            .collect();
        if let [only] = kept.as_slice() {
            *schema = only.clone();
        } else {
            schema["oneOf"] = Value::Array(kept);
        }
    }
}

fn complete_response(status: &str, response: &mut Value) {
    let headers = response
        .as_object_mut()
        .expect("a response is an object")
        .entry("headers")
        .or_insert_with(|| Value::Object(Map::new()));
    headers["x-request-id"] = json!({
        "description": "The request's id: the client's, or a ULID the server made.",
        "schema": {"type": "string"}
    });
    let is_error = status.starts_with('4') || status.starts_with('5');
    if status == "503" || status == "429" {
        headers["Retry-After"] = json!({
            "description": format!(
                "Seconds to wait before retrying ({RETRY_AFTER_UNAVAILABLE_SECONDS} on a 503)."
            ),
            "schema": {"type": "integer", "minimum": 0}
        });
    }
    if is_error
        && response
            .get("content")
            .is_none_or(|c| c.as_object().is_none_or(|c| c.is_empty()))
    {
        response["content"] = json!({
            PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}
        });
    }
}

fn default_description(status: u16) -> &'static str {
    match status {
        400 => "A parameter or the body cannot be read",
        401 => "No valid API key was given (`Authorization: Bearer <key>`)",
        429 => "Over the tenant's rate limit (`rate_limited`); `Retry-After` says when to retry",
        404 => "No such resource",
        413 => "The body is larger than `BODY_LIMIT`, with or without `Content-Length`",
        415 => "The body is not `application/json`",
        422 => "The body is not a JSON object, or a field is missing, unknown or wrong",
        503 => "A dependency is unreachable, or the request took longer than `REQUEST_TIMEOUT`",
        _ => "An error",
    }
}

/// An array of any values says so (`items: {}`): utoipa leaves `items` out, which client
/// generators refuse.
fn any_items(value: &mut Value) {
    match value {
        Value::Object(object) => {
            let untyped = object
                .get("items")
                .is_none_or(|items| items.as_object().is_some_and(|i| i.is_empty()));
            if object.get("type").is_some_and(|t| t == "array") && untyped {
                object.insert("items".to_owned(), json!({}));
            }
            object.values_mut().for_each(any_items);
        }
        Value::Array(values) => values.iter_mut().for_each(any_items),
        _ => {}
    }
}

fn add_links(doc: &mut Value) {
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for operation in item.values_mut() {
            let Some(id) = operation["operationId"].as_str().map(str::to_owned) else {
                continue;
            };
            for (from, status, targets) in LINKS {
                if *from != id {
                    continue;
                }
                let links: Map<String, Value> = targets
                    .iter()
                    .map(|target| {
                        let link = json!({
                            "operationId": target,
                            "parameters": {"id": "$response.body#/id"}
                        });
                        ((*target).to_owned(), link)
                    })
                    .collect();
                operation["responses"][*status]["links"] = Value::Object(links);
            }
        }
    }
}
