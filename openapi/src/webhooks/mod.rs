//! Bodies of the webhook endpoints, and the callback body receivers get: the submission
//! (`submit`), where things stand (`status`), a webhook as shown (`view`), lists and bulk
//! redelivery (`list`), the callback (`callback`), and provider and receiver health
//! (`health`).

mod callback;
mod health;
mod list;
mod status;
mod submit;
mod view;

pub use callback::*;
pub use health::*;
pub use list::*;
pub use status::*;
pub use submit::*;
pub use view::*;
