//! `POST /v1/webhooks`: what a submission says, and how it is checked.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use utoipa::ToSchema;
use utoipa::openapi::schema::{
    ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::{Ref, RefOr};
use validator::{Validate, ValidationError};

/// The pattern every callback URL matches: http(s), a host name, an IPv4 address or a
/// bracketed IPv6 address (a name or IPv4 address may end with the root's dot), an optional
/// port, path and query; no user info, no fragment. Which addresses are public is decided
/// after, by the address table, for every kind of host alike.
pub const CALLBACK_URL_PATTERN: &str = concat!(
    r"^https?://",
    r"(?:",
    // IPv4.
    r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}\.?",
    // A host name.
    r"|(?:[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*\.)*[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*\.?",
    // IPv6 (RFC 4291 text forms, an IPv4 address in the last 32 bits included).
    r"|\[(?:",
    r"(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}",
    r"|(?:[0-9A-Fa-f]{1,4}:){1,7}:",
    r"|(?:[0-9A-Fa-f]{1,4}:){1,6}:[0-9A-Fa-f]{1,4}",
    r"|(?:[0-9A-Fa-f]{1,4}:){1,5}(?::[0-9A-Fa-f]{1,4}){1,2}",
    r"|(?:[0-9A-Fa-f]{1,4}:){1,4}(?::[0-9A-Fa-f]{1,4}){1,3}",
    r"|(?:[0-9A-Fa-f]{1,4}:){1,3}(?::[0-9A-Fa-f]{1,4}){1,4}",
    r"|(?:[0-9A-Fa-f]{1,4}:){1,2}(?::[0-9A-Fa-f]{1,4}){1,5}",
    r"|[0-9A-Fa-f]{1,4}:(?::[0-9A-Fa-f]{1,4}){1,6}",
    r"|:(?:(?::[0-9A-Fa-f]{1,4}){1,7}|:)",
    r"|(?:(?:[0-9A-Fa-f]{1,4}:){6}|::(?:[0-9A-Fa-f]{1,4}:){0,5}|(?:[0-9A-Fa-f]{1,4}:){1,5}:)",
    r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}",
    r")\]",
    r")",
    r"(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?",
    r"(?:/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?",
    r"(?:\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?$",
);

/// Longest callback URL accepted.
pub const MAX_CALLBACK_URL_LENGTH: usize = 2048;

/// `POST /v1/webhooks`: collect from `provider` (one name or several), then POST the
/// aggregate to `callbackUrl`.
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"provider": ["gas", "internet"], "callbackUrl": "https://example.com/hooks/bills"}))]
pub struct SubmitWebhook {
    /// A configured provider's name, or a non-empty list of distinct names.
    pub provider: ProviderSelection,
    /// Absolute http(s) URL with a host name, an IPv4 address or a bracketed IPv6 address,
    /// at most 2048 characters, on a public address unless the server allows private
    /// callbacks.
    #[validate(
        length(max = 2048, message = "must be at most 2048 characters"),
        custom(function = "callback_url_shape")
    )]
    #[schema(max_length = 2048, example = "https://example.com/hooks/bills")]
    pub callback_url: String,
    /// Optional: callbacks of the caller's webhooks with the same key are delivered one
    /// at a time, in submission order (a later one waits while an earlier one is still
    /// collecting or retrying; a parked one lets the next go). 1 to 200 characters.
    #[serde(default)]
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters"))]
    #[schema(min_length = 1, max_length = 200, example = "customer-42")]
    pub ordering_key: Option<String>,
}

fn callback_url_shape(url: &str) -> Result<(), ValidationError> {
    static PATTERN: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(CALLBACK_URL_PATTERN).expect("a valid pattern"));
    if url.len() <= MAX_CALLBACK_URL_LENGTH && !PATTERN.is_match(url) {
        return Err(ValidationError::new("callback_url").with_message(
            "must be an absolute http or https URL with a host name, an IPv4 address or a \
             bracketed IPv6 address, no user name and no fragment"
                .into(),
        ));
    }
    Ok(())
}

/// A configured provider's name. The document lists the providers the server was
/// configured with.
#[derive(Debug, Clone, ToSchema)]
#[schema(example = "gas")]
pub struct ProviderName(pub String);

/// One provider name, or a non-empty list of distinct names.
#[derive(Debug, Clone)]
pub enum ProviderSelection {
    /// One provider.
    One(String),
    /// Several providers, each once.
    Many(Vec<String>),
}

impl ProviderSelection {
    /// The names, as given.
    pub fn names(&self) -> Vec<&str> {
        match self {
            ProviderSelection::One(name) => vec![name.as_str()],
            ProviderSelection::Many(names) => names.iter().map(String::as_str).collect(),
        }
    }

    /// The field naming the `index`th provider: `provider` for one, `provider/1` in a list.
    pub fn field(&self, index: usize) -> String {
        match self {
            ProviderSelection::One(_) => "provider".to_owned(),
            ProviderSelection::Many(_) => format!("provider/{index}"),
        }
    }
}

impl<'de> Deserialize<'de> for ProviderSelection {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SelectionVisitor)
    }
}

struct SelectionVisitor;

impl<'de> Visitor<'de> for SelectionVisitor {
    type Value = ProviderSelection;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a provider name or a list of provider names")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<ProviderSelection, E> {
        Ok(ProviderSelection::One(name.to_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ProviderSelection, A::Error> {
        let mut names = Vec::new();
        while let Some(name) = seq.next_element::<String>()? {
            names.push(name);
        }
        Ok(ProviderSelection::Many(names))
    }
}

impl utoipa::PartialSchema for ProviderSelection {
    fn schema() -> RefOr<Schema> {
        let name = || Ref::from_schema_name("ProviderName");
        OneOfBuilder::new()
            .item(name())
            .item(
                ArrayBuilder::new()
                    .items(name())
                    .min_items(Some(1))
                    .unique_items(true),
            )
            .description(Some(
                "A configured provider's name, or a non-empty list of distinct names.",
            ))
            .into()
    }
}

impl ToSchema for ProviderSelection {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((
            "ProviderName".to_owned(),
            <ProviderName as utoipa::PartialSchema>::schema(),
        ));
    }
}

/// The schema of a provider's answer as stored: the JSON array or object it sent.
pub fn provider_data_schema() -> Schema {
    let one_of = OneOfBuilder::new()
        .item(ArrayBuilder::new().items(ObjectBuilder::new().schema_type(SchemaType::AnyValue)))
        .item(ObjectBuilder::new().schema_type(SchemaType::Type(Type::Object)))
        .description(Some(
            "The provider's answer as it sent it: a JSON array or object.",
        ))
        .build();
    Schema::OneOf(one_of)
}

/// Each provider's answer under its name.
pub fn provider_data_map_schema() -> Schema {
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::Object))
            .additional_properties(Some(provider_data_schema()))
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_host_has_its_shape_checked() {
        for url in [
            "https://example.com/hook",
            "https://example.com./hook",
            "http://1.1.1.1/",
            "http://1.1.1.1./",
            "https://[2606:4700:4700::1111]/hook",
            "http://[::ffff:93.184.215.14]/",
            "http://[64:ff9b::5db8:d70e]/",
            "http://[64:ff9b::93.184.215.14]:8080/x?y=1",
            "http://[2001:db8:0:0:0:0:0:1]/",
            "http://[::1]/",
            "http://[::]/",
            "http://[1::]/",
        ] {
            assert!(callback_url_shape(url).is_ok(), "{url}");
        }
        for url in [
            "http://[2606:4700::1111/",
            "http://[:::1]/",
            "http://[1:2:3:4:5:6:7:8:9]/",
            "http://[12345::1]/",
            "http://[::1.2.3]/",
            "http://[fe80::1%25eth0]/",
            "http://[v1.x]/",
            "http://1.1.1.1../",
            "http://2130706433/",
            "http://user@example.com/",
            "https://example.com/#top",
        ] {
            assert!(callback_url_shape(url).is_err(), "{url}");
        }
    }
}
