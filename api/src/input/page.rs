//! Reading `?page=&pageSize=`, and fetching that page, the same for every numbered list.

use openapi::page::{DEFAULT_PAGE, DEFAULT_PAGE_SIZE, MAX_PAGE, MAX_PAGE_SIZE, PageQuery};
use sea_orm::{ConnectionTrait, DbErr, PaginatorTrait, SelectorTrait};

use crate::error::ApiError;

/// A page asked for, within bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// From 1.
    pub number: u64,
    /// 1 to `MAX_PAGE_SIZE`.
    pub size: u64,
}

impl Page {
    /// Reads and bounds a page query; out-of-range values are 400s naming the parameter.
    pub fn parse(query: &PageQuery) -> Result<Self, ApiError> {
        Self::from_parts(query.page.as_deref(), query.page_size.as_deref())
    }

    /// Reads `page` and `pageSize` of a list query that also filters.
    pub fn from_parts(page: Option<&str>, page_size: Option<&str>) -> Result<Self, ApiError> {
        let number = bounded("page", page, DEFAULT_PAGE, 1, MAX_PAGE)?;
        let size = bounded("pageSize", page_size, DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)?;
        Ok(Page { number, size })
    }

    /// This page's rows of `select`, and how many rows the whole list holds.
    pub async fn fetch<'db, C, S>(
        self,
        db: &'db C,
        select: S,
    ) -> Result<(Vec<<S::Selector as SelectorTrait>::Item>, u64), DbErr>
    where
        C: ConnectionTrait,
        S: PaginatorTrait<'db, C>,
    {
        let paginator = select.paginate(db, self.size);
        let total = paginator.num_items().await?;
        let rows = paginator.fetch_page(self.number - 1).await?;
        Ok((rows, total))
    }
}

fn bounded(
    field: &'static str,
    raw: Option<&str>,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ApiError> {
    let Some(raw) = raw else {
        return Ok(default);
    };
    let reason = match raw.parse::<i64>() {
        Ok(n) if n < min as i64 => format!("must be at least {min}"),
        Ok(n) if n > max as i64 => format!("must be at most {max}"),
        Ok(n) => return Ok(n as u64),
        Err(_)
            if !raw.is_empty()
                && raw
                    .trim_start_matches('-')
                    .bytes()
                    .all(|b| b.is_ascii_digit()) =>
        {
            format!("must be at most {max}")
        }
        Err(_) => format!("must be a whole number from {min} to {max}"),
    };
    Err(ApiError::InvalidParameter { field, reason })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(page: Option<&str>, size: Option<&str>) -> Result<Page, ApiError> {
        Page::parse(&PageQuery {
            page: page.map(Into::into),
            page_size: size.map(Into::into),
            tenant: None,
        })
    }

    #[test]
    fn defaults_and_bounds() {
        assert_eq!(
            page(None, None).unwrap(),
            Page {
                number: 1,
                size: 50
            }
        );
        assert_eq!(
            page(Some("3"), Some("100")).unwrap(),
            Page {
                number: 3,
                size: 100
            }
        );
        for (p, s) in [
            (Some("0"), None),
            (Some("x"), None),
            (None, Some("0")),
            (None, Some("101")),
            (None, Some("500")),
            (Some("-1"), None),
        ] {
            assert!(page(p, s).is_err(), "{p:?} {s:?}");
        }
    }
}
