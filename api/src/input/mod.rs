//! What a request carries, read the same way by every route: JSON bodies (`json`), path and
//! query parameters (`params`), the resource and tenant a request is about (`resource`),
//! pages (`page`), the parser messages rewritten in plain words (`plain`), and the control
//! characters no value may hold (`text`). Each failure
//! is an `ApiError` naming the field.

pub mod json;
pub mod page;
pub mod params;
mod plain;
mod resource;
pub mod text;

pub use json::ApiJson;
pub use page::Page;
pub use resource::{ResourceId, Scope};
