//! Bodies of the webhook endpoints, and the callback body receivers get: the submission
//! (`submit`), where things stand (`status`), a webhook as shown (`view`), lists and bulk
//! redelivery (`list`), the callback (`callback`), provider and receiver health
//! (`health`), and their limits and pauses (`flow`).

mod callback;
mod flow;
mod health;
mod list;
mod status;
mod submit;
mod view;

pub use callback::*;
pub use flow::*;
pub use health::*;
pub use list::*;
pub use status::*;
pub use submit::*;
pub use view::*;
