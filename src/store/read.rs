//! Reads of the rows one key selects (one lead's, one agent's): a statement with its
//! row type, declared by the table module that owns the columns.
use super::StoreError;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgConnection};
use std::marker::PhantomData;

/// A `SELECT` taking one text parameter, `$1`, whose rows read as `T`.
pub(super) struct ByKey<T> {
    sql: &'static str,
    row: PhantomData<fn() -> T>,
}

impl<T> ByKey<T>
where
    T: for<'r> FromRow<'r, PgRow> + Send + Unpin,
{
    pub const fn new(sql: &'static str) -> Self {
        ByKey {
            sql,
            row: PhantomData,
        }
    }

    /// The row for `key`, if there is one.
    pub async fn one(&self, conn: &mut PgConnection, key: &str) -> Result<Option<T>, StoreError> {
        Ok(sqlx::query_as(self.sql)
            .bind(key)
            .fetch_optional(conn)
            .await?)
    }

    /// Every row for `key`, in the statement's order.
    pub async fn all(&self, conn: &mut PgConnection, key: &str) -> Result<Vec<T>, StoreError> {
        Ok(sqlx::query_as(self.sql).bind(key).fetch_all(conn).await?)
    }
}
