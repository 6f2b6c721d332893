//! Control characters in every path parameter, query parameter and body string of every
//! route the served document lists, against Postgres (which refuses NUL in text): each is
//! refused with a 4xx problem naming the value, never a 5xx.

use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::helpers::{Mode, TestApp};

const ADMIN: &str = "admin-key-for-control-tests-0123";
const TENANT: &str = "tenant-key-for-control-tests-0123";

/// NUL, other C0 characters, DEL and a C1 character, alone and inside text.
const BAD: &[&str] = &[
    "\u{0}", "a\u{0}b", "\u{1}", "\t", "\n", "x\u{1f}", "\u{7f}", "\u{85}",
];

/// One request of the walk: where the bad value goes and the field it must be named by.
struct Case {
    method: Method,
    target: String,
    body: Option<Value>,
    field: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_are_refused_on_every_route() {
    let app = TestApp::spawn_with(Mode::Production, |c| {
        c.tenants.auth_disabled = false;
        c.tenants.admin_api_key = Some(ADMIN.to_owned().into());
        c.http.api_keys = vec![TENANT.to_owned().into()];
    })
    .await;
    let (status, doc) = app.get_json("/api-docs/openapi.json").await;
    assert_eq!(status, 200);
    let cases = cases(&doc);
    assert!(cases.len() > 300, "the walk found {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        // The operator's key reaches the admin routes; a tenant's key those that create.
        for key in [ADMIN, TENANT] {
            let mut request = app
                .client
                .request(case.method.clone(), app.url(&case.target))
                .bearer_auth(key);
            if let Some(body) = &case.body {
                request = request
                    .header("content-type", "application/json")
                    .body(body.to_string());
            }
            let response = request.send().await.expect("request");
            let status = response.status().as_u16();
            let problem: Value = response.json().await.unwrap_or(Value::Null);
            let named = problem["errors"][0]["field"] == case.field.as_str();
            if !(400..500).contains(&status) || !named {
                failures.push(format!(
                    "{} {} {}: {status} {problem}",
                    case.method,
                    case.target,
                    case.body.as_ref().map(Value::to_string).unwrap_or_default()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Every case of every operation of `doc`.
fn cases(doc: &Value) -> Vec<Case> {
    let mut cases = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            if !matches!(
                method,
                Method::GET | Method::POST | Method::PUT | Method::PATCH | Method::DELETE
            ) {
                continue;
            }
            operation_cases(doc, path, &method, operation, &mut cases);
        }
    }
    cases
}

fn operation_cases(
    doc: &Value,
    path: &str,
    method: &Method,
    operation: &Value,
    cases: &mut Vec<Case>,
) {
    let parameters: Vec<&Value> = operation["parameters"]
        .as_array()
        .map(|p| p.iter().collect())
        .unwrap_or_default();
    let body_schema = &operation["requestBody"]["content"]["application/json"]["schema"];
    let body = (!body_schema.is_null()).then(|| example(doc, body_schema));
    // A request with `bad` as parameter `name` (in `place`) and good values elsewhere.
    let target = |bad: Option<(&str, &str)>| {
        let mut target = path.to_owned();
        let mut query = Vec::new();
        for parameter in &parameters {
            let name = parameter["name"].as_str().unwrap_or_default();
            let place = parameter["in"].as_str().unwrap_or_default();
            let value = match bad {
                Some((bad_name, bad)) if bad_name == name => encode(bad),
                _ if place == "path" || parameter["required"] == true => {
                    encode(&good_text(doc, &parameter["schema"]))
                }
                _ => continue,
            };
            match place {
                "path" => target = target.replace(&format!("{{{name}}}"), &value),
                "query" => query.push(format!("{name}={value}")),
                _ => {}
            }
        }
        if !query.is_empty() {
            target = format!("{target}?{}", query.join("&"));
        }
        target
    };
    for parameter in &parameters {
        if !matches!(parameter["in"].as_str(), Some("path" | "query")) {
            continue;
        }
        let name = parameter["name"].as_str().unwrap_or_default();
        for bad in BAD {
            cases.push(Case {
                method: method.clone(),
                target: target(Some((name, bad))),
                body: body.clone(),
                field: name.to_owned(),
            });
        }
    }
    let Some(body) = body else { return };
    let mut slots = Vec::new();
    string_slots(doc, body_schema, &mut Vec::new(), &mut slots);
    for (pointer, in_list) in slots {
        for bad in BAD {
            let mut body = body.clone();
            let value = if in_list { json!([bad]) } else { json!(bad) };
            set(&mut body, &pointer, value);
            let field = if in_list {
                format!("{}/0", pointer.join("/"))
            } else {
                pointer.join("/")
            };
            cases.push(Case {
                method: method.clone(),
                target: target(None),
                body: Some(body),
                field,
            });
        }
    }
}

/// `schema` with its `$ref` followed.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/schemas/");
            resolve(doc, &doc["components"]["schemas"][name])
        }
        None => schema,
    }
}

/// The alternatives of a schema: itself, or each of its `oneOf`/`anyOf`, resolved.
fn alternatives<'a>(doc: &'a Value, schema: &'a Value) -> Vec<&'a Value> {
    let schema = resolve(doc, schema);
    let listed = schema["oneOf"].as_array().or(schema["anyOf"].as_array());
    match listed {
        Some(items) => items.iter().map(|s| resolve(doc, s)).collect(),
        None => vec![schema],
    }
}

fn has_type(schema: &Value, kind: &str) -> bool {
    schema["type"] == kind
        || schema["type"]
            .as_array()
            .is_some_and(|types| types.iter().any(|t| t == kind))
}

/// Where a string goes in a body of `schema`: (path, whether as a list's item).
fn string_slots(
    doc: &Value,
    schema: &Value,
    path: &mut Vec<String>,
    slots: &mut Vec<(Vec<String>, bool)>,
) {
    for alternative in alternatives(doc, schema) {
        if has_type(alternative, "string") && !path.is_empty() {
            slots.push((path.clone(), false));
        }
        if has_type(alternative, "array")
            && alternatives(doc, &alternative["items"])
                .iter()
                .any(|item| has_type(item, "string"))
        {
            slots.push((path.clone(), true));
        }
        if let Some(properties) = alternative["properties"].as_object() {
            for (name, property) in properties {
                path.push(name.clone());
                string_slots(doc, property, path, slots);
                path.pop();
            }
        }
    }
}

/// A valid value of `schema`: its required fields only, from examples or bounds.
fn example(doc: &Value, schema: &Value) -> Value {
    let schema = alternatives(doc, schema)
        .into_iter()
        .find(|s| !has_type(s, "null"))
        .unwrap_or(&Value::Null);
    if let Some(properties) = schema["properties"].as_object() {
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let fields: Map<String, Value> = properties
            .iter()
            .filter(|(name, _)| required.contains(&name.as_str()))
            .map(|(name, property)| {
                let value = if name == "callbackUrl" {
                    // Loopback: nothing is ever sent to a public address.
                    json!("http://127.0.0.1:9/hook")
                } else {
                    example(doc, property)
                };
                (name.clone(), value)
            })
            .collect();
        return Value::Object(fields);
    }
    if has_type(schema, "integer") || has_type(schema, "number") {
        return schema["minimum"]
            .as_i64()
            .map_or(json!(1), |min| json!(min));
    }
    if has_type(schema, "boolean") {
        return json!(false);
    }
    json!(good_text(doc, schema))
}

/// A valid text of a parameter or string of `schema`.
fn good_text(doc: &Value, schema: &Value) -> String {
    let schema = resolve(doc, schema);
    if let Some(first) = schema["enum"].get(0).and_then(Value::as_str) {
        return first.to_owned();
    }
    if let Some(example) = schema["example"].as_str() {
        return example.to_owned();
    }
    if schema["format"] == "date-time" {
        return "2022-09-12T10:00:00Z".to_owned();
    }
    if has_type(schema, "integer") {
        return "1".to_owned();
    }
    "x".to_owned()
}

/// Puts `value` at `pointer` in `body`, making the objects on the way.
fn set(body: &mut Value, pointer: &[String], value: Value) {
    let Some((last, parents)) = pointer.split_last() else {
        return;
    };
    let mut here = body;
    for name in parents {
        if !here[name.as_str()].is_object() {
            here[name.as_str()] = json!({});
        }
        here = &mut here[name.as_str()];
    }
    here[last.as_str()] = value;
}

/// Every byte outside the unreserved set, percent-encoded.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
