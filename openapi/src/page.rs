//! Pagination, the same for every list of the API: `?page=1&pageSize=50`.

use serde::Deserialize;
use utoipa::IntoParams;

/// The largest page a client may ask for.
pub const MAX_PAGE_SIZE: u64 = 100;
/// The last page a client may ask for; deeper offsets only make the database scan.
pub const MAX_PAGE: u64 = 1_000_000;
/// The page when none is asked for.
pub const DEFAULT_PAGE: u64 = 1;
/// The page size when none is asked for.
pub const DEFAULT_PAGE_SIZE: u64 = 50;

/// Query of a list endpoint.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The page, from 1 (default 1).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000000, example = 1)]
    pub page: Option<String>,
    /// Items per page, 1 to 100 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100, example = 50)]
    pub page_size: Option<String>,
    /// Only this tenant's items; for the operator's key (tenant keys always list their own).
    pub tenant: Option<String>,
}
