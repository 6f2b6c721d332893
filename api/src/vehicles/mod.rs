//! Vehicle state at a point in time: input types, the lookup, and its cache.

pub mod cache;
mod instant;
mod lookup;

pub use instant::parse_instant;
pub use lookup::{KnownState, StateAt, VehicleStates};

use crate::error::ApiError;

/// A vehicle id from a path: a 32-bit integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VehicleId(pub i32);

impl VehicleId {
    /// Parses the `id` path parameter. An integer outside the ids' range names no vehicle,
    /// like any id that does not exist: 404, not 400.
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        if let Ok(id) = raw.parse() {
            return Ok(VehicleId(id));
        }
        let digits = raw.strip_prefix(['-', '+']).unwrap_or(raw);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::NotFound(format!("vehicle {raw} not found")));
        }
        Err(ApiError::InvalidParameter {
            field: "id",
            reason: "must be a whole number (a vehicle id)".into(),
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
        assert!(matches!(
            VehicleId::parse("2147483648"),
            Err(ApiError::NotFound(_))
        ));
        assert!(matches!(
            VehicleId::parse("1.5"),
            Err(ApiError::InvalidParameter { .. })
        ));
    }
}
