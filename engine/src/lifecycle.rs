//! Every status change is one conditional update built here: it moves rows from the given
//! statuses to another, only if their lifecycle (`entity::lifecycle`) allows each move, and
//! only rows still in one of those statuses match. Callers check the row count.

use entity::lifecycle::Lifecycle;
use sea_orm::sea_query::{Expr, Value};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, UpdateMany};

/// `update`, moving `column` from one of `from` to `to`: sets it and filters on it.
pub fn transition<E, S>(
    update: UpdateMany<E>,
    column: E::Column,
    from: &[S],
    to: S,
) -> Result<UpdateMany<E>, DbErr>
where
    E: EntityTrait,
    S: Lifecycle + Into<Value>,
{
    for &source in from {
        S::check(source, to).map_err(|e| DbErr::Custom(e.to_string()))?;
    }
    let sources: Vec<Value> = from.iter().map(|&s| s.into()).collect();
    Ok(update
        .col_expr(column, Expr::value(to))
        .filter(column.is_in(sources)))
}

#[cfg(test)]
mod tests {
    use entity::stream_batch::BatchStatus;
    use entity::webhook::{self, WebhookStatus};
    use sea_orm::{DbBackend, QueryTrait};

    use super::*;

    #[test]
    fn a_move_sets_the_status_and_matches_only_its_sources() {
        let update = transition(
            webhook::Entity::update_many(),
            webhook::Column::Status,
            &[WebhookStatus::Delivered, WebhookStatus::Parked],
            WebhookStatus::Delivering,
        )
        .unwrap();
        let sql = update.build(DbBackend::Postgres).to_string();
        assert!(sql.contains(r#"SET "status" = 'delivering'"#), "{sql}");
        assert!(
            sql.contains(r#""status" IN ('delivered', 'parked')"#),
            "{sql}"
        );
    }

    #[test]
    fn a_move_the_lifecycle_does_not_allow_is_refused() {
        let refused = transition(
            webhook::Entity::update_many(),
            webhook::Column::Status,
            &[WebhookStatus::Delivered],
            WebhookStatus::Collecting,
        );
        assert!(refused.is_err());
        assert!(!BatchStatus::allows(
            BatchStatus::Complete,
            BatchStatus::Running
        ));
    }
}
