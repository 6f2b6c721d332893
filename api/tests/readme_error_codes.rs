//! The README's table of error codes is made from the code's one table
//! (`ErrorCode::ALL` and `ErrorCode::describe`), so the two cannot drift apart: this test
//! fails when they differ. Regenerate the README's table with
//! `UPDATE_README=1 cargo test -p api --test readme_error_codes`.

use openapi::error::ErrorCode;

/// The line before the generated table.
const START: &str = "<!-- error codes: generated from ErrorCode::describe, checked by api/tests/readme_error_codes.rs -->";
/// The line after it.
const END: &str = "<!-- end of error codes -->";

/// The table as the code describes it, one code per row, in `ErrorCode::ALL`'s order.
fn table() -> String {
    let mut out = String::from("| `code` | status | `title` |\n|---|---:|---|\n");
    for code in ErrorCode::ALL {
        let info = code.describe();
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            info.name, info.status, info.title
        ));
    }
    out
}

#[test]
fn the_readmes_error_codes_are_the_codes_table() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
    let readme = std::fs::read_to_string(path).expect("README.md");
    let (before, rest) = readme
        .split_once(&format!("{START}\n"))
        .unwrap_or_else(|| panic!("README.md has no line `{START}`"));
    let (listed, after) = rest
        .split_once(&format!("{END}\n"))
        .unwrap_or_else(|| panic!("README.md has no line `{END}` after the table"));
    let expected = table();
    if std::env::var_os("UPDATE_README").is_some() {
        std::fs::write(path, format!("{before}{START}\n{expected}{END}\n{after}"))
            .expect("write README.md");
        return;
    }
    assert_eq!(
        listed, expected,
        "README.md's error codes differ from ErrorCode::describe; \
         run `UPDATE_README=1 cargo test -p api --test readme_error_codes`"
    );
}

#[test]
fn the_codes_table_lists_every_code() {
    // `ErrorCode::ALL` is written by hand; the committed OpenAPI document's enum is generated
    // from the type itself (and checked against the code by the `openapi` test), so a variant
    // missing from `ALL`, and hence from the README, shows here.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.json");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("openapi.json")).unwrap();
    let mut generated: Vec<&str> = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .expect("the ErrorCode schema's enum")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let mut listed: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.describe().name).collect();
    generated.sort_unstable();
    listed.sort_unstable();
    assert_eq!(listed, generated);
}
