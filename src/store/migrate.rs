//! Creating the database when missing, and applying the embedded migrations.
use super::StoreError;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool};

/// The schema, embedded at build time from `migrations/`.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

// SQLSTATE codes this module reacts to.
const INVALID_CATALOG_NAME: &str = "3D000"; // database does not exist
const DUPLICATE_DATABASE: &str = "42P04";
const UNIQUE_VIOLATION: &str = "23505"; // two CREATE DATABASE racing on pg_database

/// Applies pending migrations. sqlx takes an advisory lock while migrating, so
/// instances starting together do not trip over each other.
pub(super) async fn run(pool: &PgPool) -> Result<(), StoreError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// Creates the database named in `options` if it does not exist yet, through the
/// `postgres` maintenance database on the same server (`template1` if that is gone).
/// A URL without a database name is left alone: the server's default applies.
pub async fn ensure_database(options: &PgConnectOptions) -> Result<(), StoreError> {
    let Some(name) = options.get_database() else {
        return Ok(());
    };
    match PgConnection::connect_with(options).await {
        Ok(conn) => {
            let _ = conn.close().await;
            return Ok(());
        }
        Err(e) if has_sqlstate(&e, &[INVALID_CATALOG_NAME]) => {}
        Err(e) => return Err(e.into()),
    }

    let mut admin = match PgConnection::connect_with(&options.clone().database("postgres")).await {
        Ok(c) => c,
        Err(e) if has_sqlstate(&e, &[INVALID_CATALOG_NAME]) => {
            PgConnection::connect_with(&options.clone().database("template1")).await?
        }
        Err(e) => return Err(e.into()),
    };
    let sql = format!("CREATE DATABASE {}", quote_ident(name));
    let created = sqlx::query(AssertSqlSafe(sql)).execute(&mut admin).await;
    let _ = admin.close().await;
    match created {
        Ok(_) => {
            tracing::info!(database = name, "created database");
            Ok(())
        }
        // Another instance created it between our check and our CREATE: fine.
        Err(e) if has_sqlstate(&e, &[DUPLICATE_DATABASE, UNIQUE_VIOLATION]) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// `"name"` with inner quotes doubled: safe for any identifier text.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Whether `e` is a server error with one of these SQLSTATE codes.
pub(crate) fn has_sqlstate(e: &sqlx::Error, codes: &[&str]) -> bool {
    match e {
        sqlx::Error::Database(db) => db.code().is_some_and(|c| codes.contains(&c.as_ref())),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::quote_ident;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("leadrouter"), "\"leadrouter\"");
        assert_eq!(quote_ident("a\"b; DROP"), "\"a\"\"b; DROP\"");
    }
}
