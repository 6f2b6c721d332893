//! The parser's messages in the API's words: what a client reads names JSON kinds ("a
//! string", "a whole number", "a JSON object"), never a Rust type or a serde term.

/// Words of Rust and serde that no message may contain.
const RUST_TERMS: &[&str] = &[
    "enum", "struct", "untagged", "serde", "variant", "newtype", "tuple", "sequence", "option",
    "i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16", "u32", "u64", "u128", "usize", "f32",
    "f64",
];

/// Whether `text` is free of Rust and serde terms.
pub fn is_plain(text: &str) -> bool {
    !text.contains("invalid type:")
        && text
            .split(|c: char| !c.is_ascii_alphanumeric())
            .all(|word| !RUST_TERMS.contains(&word.to_ascii_lowercase().as_str()))
}

/// The field and the message of a deserialization error found at `path` (a JSON pointer
/// without its leading slash, empty for the body itself).
pub fn field_message(path: &str, message: &str) -> (String, String) {
    let here = || {
        if path.is_empty() {
            "body".to_owned()
        } else {
            path.to_owned()
        }
    };
    let child = |name: &str| {
        if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}/{name}")
        }
    };
    if let Some(name) = quoted_after(message, "missing field ") {
        return (child(name), "is required".to_owned());
    }
    if let Some(name) = quoted_after(message, "unknown field ") {
        // The path may already end at the unknown field itself.
        let path = path
            .strip_suffix(name)
            .filter(|parent| parent.is_empty() || parent.ends_with('/'))
            .map_or(path, |parent| parent.trim_end_matches('/'));
        let child = |name: &str| {
            if path.is_empty() {
                name.to_owned()
            } else {
                format!("{path}/{name}")
            }
        };
        let known = quoted_list(message.split_once(", expected").map_or("", |(_, l)| l));
        let message = if known.is_empty() {
            "is not a field of this body".to_owned()
        } else {
            format!("is not a field of this body; its fields are {known}")
        };
        return (child(name), message);
    }
    if let Some(name) = quoted_after(message, "duplicate field ") {
        return (child(name), "is given twice".to_owned());
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        let (got, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
        return (
            here(),
            format!("must be {}, not {}", expectation(expected), kind(got)),
        );
    }
    for prefix in ["invalid value: ", "invalid length ", "unknown variant "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let expected = rest.split_once(", expected ").map_or("", |(_, e)| e);
            return (here(), format!("must be {}", expectation(expected)));
        }
    }
    // Our own visitors' and validators' messages are already in the API's words.
    if is_plain(message) && !message.is_empty() {
        (here(), message.to_owned())
    } else {
        (here(), "has the wrong type or value".to_owned())
    }
}

/// `missing field `key`` with prefix `missing field ` → `key`.
fn quoted_after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    message
        .strip_prefix(prefix)?
        .strip_prefix('`')?
        .split('`')
        .next()
}

/// ``one of `a`, `b`, `c`` or `` `a` or `b` `` → `a, b and c`.
fn quoted_list(list: &str) -> String {
    let names: Vec<&str> = list.split('`').skip(1).step_by(2).collect();
    match names.as_slice() {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// What the parser found, as serde words it (`string "5"`, `integer `7``), as a JSON kind.
fn kind(found: &str) -> &'static str {
    let word = found.split([' ', '`', '"']).next().unwrap_or_default();
    match word {
        "string" | "char" => "a string",
        "integer" | "floating" => "a number",
        "boolean" => "true or false",
        "null" | "unit" => "null",
        "sequence" => "a list",
        "map" => "an object",
        _ => "a value of another kind",
    }
}

/// What the parser expected, as serde words it (`i64`, `struct X`, `a string`), in the
/// API's words.
fn expectation(expected: &str) -> String {
    let expected = expected.trim();
    match expected {
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" | "u8" | "u16" | "u32" | "u64" | "u128"
        | "usize" => "a whole number".to_owned(),
        "f32" | "f64" => "a number".to_owned(),
        "a string" | "a borrowed string" | "a char" => "a string".to_owned(),
        "a boolean" => "true or false".to_owned(),
        "a sequence" => "a list".to_owned(),
        e if e.starts_with("struct ") || e == "a map" => "a JSON object".to_owned(),
        e if e.starts_with("one of ") || e.contains(" or `") || e.starts_with('`') => {
            format!("one of {}", quoted_list(e))
        }
        e if is_plain(e) && !e.is_empty() => e.to_owned(),
        _ => "a value of another kind".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_messages_become_plain_words() {
        let cases = [
            ("", "missing field `key`", "key", "is required"),
            (
                "",
                "invalid type: string \"5\", expected i64",
                "body",
                "must be a whole number, not a string",
            ),
            (
                "value",
                "invalid type: floating point `1.5`, expected i64",
                "value",
                "must be a whole number, not a number",
            ),
            (
                "provider/1",
                "invalid type: integer `5`, expected a string",
                "provider/1",
                "must be a string, not a number",
            ),
            (
                "x",
                "invalid type: sequence, expected struct Foo",
                "x",
                "must be a JSON object, not a list",
            ),
            (
                "",
                "unknown field `callbackURL`, expected `provider` or `callbackUrl`",
                "callbackURL",
                "is not a field of this body; its fields are provider and callbackUrl",
            ),
            (
                "",
                "data did not match any variant of untagged enum ProviderSelection",
                "body",
                "has the wrong type or value",
            ),
            (
                "value",
                "must be a whole number",
                "value",
                "must be a whole number",
            ),
        ];
        for (path, message, field, plain) in cases {
            assert_eq!(
                field_message(path, message),
                (field.to_owned(), plain.to_owned()),
                "{message}"
            );
        }
    }

    #[test]
    fn rust_terms_are_found_as_words() {
        assert!(!is_plain("expected i64"));
        assert!(!is_plain("untagged enum ProviderSelection"));
        assert!(!is_plain("invalid type: map"));
        assert!(is_plain("must be a whole number, not a string"));
        assert!(is_plain("the counter's total would overflow"));
    }
}
