//! Control characters (U+0000 to U+001F, U+007F to U+009F) in what a request carries. No
//! value of the API may hold one: Postgres refuses NUL in text outright, and the others
//! only hide in logs and lists. Each finder names where the first one is: the path
//! parameter, the query parameter, or the body field.

use std::borrow::Cow;

use serde_json::Value;

/// Why a value holding a control character is refused, completing "`field` ...".
pub const REASON: &str = "must not contain control characters (U+0000 to U+001F, U+007F to U+009F)";

/// Whether `text` holds a control character.
pub fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

/// The percent-decoded text of `raw` (invalid UTF-8 replaced), without copying when there
/// is nothing to decode.
fn decode(raw: &str) -> Cow<'_, str> {
    if !raw.contains('%') {
        return Cow::Borrowed(raw);
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |at: usize| bytes.get(at).and_then(|b| (*b as char).to_digit(16));
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, ..) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// The parameter of route `template` (`/v1/webhooks/{id}`) whose segment of `path` (as
/// sent, percent-encoded) decodes to text with a control character.
pub fn in_path(template: &str, path: &str) -> Option<String> {
    let mut segments = path.split('/');
    for part in template.split('/') {
        let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) else {
            segments.next();
            continue;
        };
        // A wildcard (`{*file}`) takes the rest of the path.
        if let Some(name) = name.strip_prefix('*') {
            return segments
                .any(|s| has_control(&decode(s)))
                .then(|| name.to_owned());
        }
        if segments.next().is_some_and(|s| has_control(&decode(s))) {
            return Some(name.to_owned());
        }
    }
    None
}

/// The parameter of `query` (as sent) whose name or value decodes to text with a control
/// character: named by its name, or `query` when the name itself holds one.
pub fn in_query(query: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode(name);
        if has_control(&name) {
            Some("query".to_owned())
        } else {
            has_control(&decode(value)).then(|| name.into_owned())
        }
    })
}

/// Whether a JSON body may hold a control character in a string: an escape (`\u0000`,
/// `\n`) or a raw DEL or C1 character. Raw C0 characters are not valid JSON in a string,
/// so the parser refuses them itself. Cheap, so that only a suspect body is read again.
pub fn suspect_json(bytes: &[u8]) -> bool {
    bytes
        .windows(2)
        .any(|w| w[0] == b'\\' || w[0] == 0x7f || (w[0] == 0xc2 && (0x80..=0x9f).contains(&w[1])))
        || bytes.last() == Some(&0x7f)
}

/// The field of a JSON body (a JSON pointer without its leading slash, `body` for the
/// body itself) whose string value, or whose name, holds a control character.
pub fn in_json(value: &Value) -> Option<String> {
    fn walk(value: &Value, path: &str) -> Option<String> {
        let child = |name: &str| {
            let name = name.replace('~', "~0").replace('/', "~1");
            if path.is_empty() {
                name
            } else {
                format!("{path}/{name}")
            }
        };
        match value {
            Value::String(text) if has_control(text) => Some(if path.is_empty() {
                "body".to_owned()
            } else {
                path.to_owned()
            }),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(index, item)| walk(item, &child(&index.to_string()))),
            Value::Object(fields) => fields.iter().find_map(|(name, item)| {
                if has_control(name) {
                    Some(if path.is_empty() {
                        "body".to_owned()
                    } else {
                        path.to_owned()
                    })
                } else {
                    walk(item, &child(name))
                }
            }),
            _ => None,
        }
    }
    walk(value, "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn control_characters_are_found_however_they_are_written() {
        for text in [
            "\0", "a\u{1}b", "\t", "\n", "\u{1f}", "\u{7f}", "\u{85}", "\u{9f}",
        ] {
            assert!(has_control(text), "{text:?}");
        }
        for text in [
            "",
            "plain",
            "caf\u{e9}",
            "\u{a0}",
            "\u{2028}",
            "~!@#$%^&*()",
        ] {
            assert!(!has_control(text), "{text:?}");
        }
    }

    #[test]
    fn a_path_parameter_is_named() {
        let template = "/v1/streams/{id}/batches";
        assert_eq!(
            in_path(template, "/v1/streams/%00/batches"),
            Some("id".into())
        );
        assert_eq!(
            in_path(template, "/v1/streams/a%C2%85b/batches"),
            Some("id".into())
        );
        assert_eq!(in_path(template, "/v1/streams/01ABC/batches"), None);
        assert_eq!(in_path(template, "/v1/streams/caf%C3%A9/batches"), None);
        assert_eq!(
            in_path(
                "/vehicles/{id}/timestamp/{timestamp}",
                "/vehicles/1/timestamp/x%7F"
            ),
            Some("timestamp".into())
        );
        assert_eq!(
            in_path("/console/{*file}", "/console/a/b%0a"),
            Some("file".into())
        );
    }

    #[test]
    fn a_query_parameter_is_named() {
        assert_eq!(in_query("after=%00"), Some("after".into()));
        assert_eq!(in_query("page=1&provider=gas%00"), Some("provider".into()));
        assert_eq!(in_query("a%01=1"), Some("query".into()));
        assert_eq!(in_query("prefix=a%2Bb&tenant=x+y"), None);
        assert_eq!(in_query("at=2022-09-12T10%3A00%3A00Z"), None);
        // A lone or broken escape is not a control character.
        assert_eq!(in_query("search=%&x=%0"), None);
    }

    #[test]
    fn a_body_field_is_named_by_its_path() {
        let body = json!({"name": "ok", "quotas": {"x": ["a", "b\u{0}"]}});
        assert_eq!(in_json(&body), Some("quotas/x/1".into()));
        assert_eq!(in_json(&json!({"a\u{1}": 1})), Some("body".into()));
        assert_eq!(in_json(&json!("\u{7f}")), Some("body".into()));
        assert_eq!(in_json(&json!({"name": "caf\u{e9}", "n": 1})), None);
    }

    #[test]
    fn only_a_body_that_may_hold_one_is_suspect() {
        assert!(suspect_json(br#"{"name": "a\u0000"}"#));
        assert!(suspect_json(br#"{"name": "a\n"}"#));
        assert!(suspect_json("{\"name\": \"a\u{85}\"}".as_bytes()));
        assert!(suspect_json("{\"name\": \"a\u{7f}\"}".as_bytes()));
        assert!(!suspect_json(r#"{"name": "café", "value": 1}"#.as_bytes()));
    }
}
