//! Vehicle state at a point in time: input types, the lookup, and its cache.

mod instant;
mod lookup;

pub use instant::parse_instant;
pub use lookup::{KnownState, StateAt, VehicleStates};

use crate::error::ApiError;

/// A vehicle id from a path: a 32-bit integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VehicleId(pub i32);

impl VehicleId {
    /// Parses the `id` path parameter.
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        raw.parse()
            .map(VehicleId)
            .map_err(|_| ApiError::InvalidParameter {
                field: "id",
                reason: format!("expected an integer vehicle id, got `{raw}`"),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_integers() {
        assert_eq!(VehicleId::parse("3").unwrap(), VehicleId(3));
        assert!(VehicleId::parse("abc").is_err());
        assert!(VehicleId::parse("99999999999").is_err());
    }
}
