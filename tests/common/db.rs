//! A fresh PostgreSQL database per test, dropped afterwards, so tests run in parallel
//! and leave nothing behind. A test needing PostgreSQL FAILS when it is unreachable:
//! a skipped store test would hide exactly the bugs it exists to catch.
//!
//! Server: `TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432`), no
//! database in the URL.
use crate::wait::wait_until;
use leadrouter::store::Store;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::time::Duration;

pub fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
        .trim_end_matches('/')
        .to_owned()
}

/// One test's database. Call [`TestDb::cleanup`] at the end; if the test panics
/// first, `Drop` drops the database on a helper thread.
pub struct TestDb {
    /// The server's URL, without a database (the machine's unless a test brought its own).
    pub server: String,
    pub name: String,
    /// The URL to connect to it (no password in the default setup).
    pub url: String,
    cleaned: bool,
}

impl TestDb {
    /// A fresh, empty database (no schema yet).
    pub async fn create() -> TestDb {
        let db = Self::unique();
        let mut admin = admin_connection(&db.server).await;
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{}\"", db.name)))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {}: {e}", db.name));
        let _ = admin.close().await;
        db
    }

    /// A fresh name whose database does not exist yet (to test creation on connect).
    pub fn unique() -> TestDb {
        Self::unique_on(&server_url())
    }

    /// [`TestDb::unique`] on the server at `server` (a URL without a database).
    pub fn unique_on(server: &str) -> TestDb {
        let server = server.trim_end_matches('/').to_owned();
        let name = format!("leadrouter_test_{}", uuid::Uuid::new_v4().simple());
        let url = format!("{server}/{name}");
        TestDb {
            server,
            name,
            url,
            cleaned: false,
        }
    }

    /// Connects a [`Store`] (creating the schema). Panics with the reason on failure.
    pub async fn store(&self) -> Store {
        Store::connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("Store::connect to {} failed: {e}", self.name))
    }

    /// A plain connection, for checking what was written.
    pub async fn conn(&self) -> PgConnection {
        PgConnection::connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", self.name))
    }

    /// [`count`] on a connection of its own.
    pub async fn count(&self, sql: &str) -> i64 {
        count(&mut self.conn().await, sql).await
    }

    /// [`count`] that reports a failure instead of failing the test: while the database
    /// does not exist yet (the daemon creates it) or its server restarts.
    pub async fn try_count(&self, sql: &str) -> Result<i64, String> {
        let mut conn = PgConnection::connect(&self.url)
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        let n = query_count(&mut conn, sql).await.map_err(|e| e.to_string());
        let _ = conn.close().await;
        n
    }

    /// Waits until `sql` counts at least `want` (by [`TestDb::try_count`]), and returns
    /// the count.
    pub async fn wait_count(&self, sql: &str, want: i64, timeout: Duration) -> i64 {
        let counted = wait_until(
            format!("`{sql}` to reach {want}"),
            timeout,
            async || self.try_count(sql).await,
            |n| n.as_ref().is_ok_and(|n| *n >= want),
        )
        .await;
        counted.expect("done only on a count")
    }

    pub async fn exists(&self) -> bool {
        let mut admin = admin_connection(&self.server).await;
        let found: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(&self.name)
                .fetch_one(&mut admin)
                .await
                .expect("query pg_database");
        let _ = admin.close().await;
        found
    }

    /// Drops the database (terminating connections still open to it).
    pub async fn cleanup(mut self) {
        drop_database(&self.server, &self.name).await;
        self.cleaned = true;
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.cleaned {
            return;
        }
        // Drop may run inside a tokio runtime (a panicking async test), where blocking
        // on another future is not allowed: use a thread with its own runtime.
        let (server, name) = (self.server.clone(), self.name.clone());
        let joined = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(drop_database(&server, &name));
            }
        })
        .join();
        if joined.is_err() {
            eprintln!("warning: could not drop test database {}", self.name);
        }
    }
}

/// The number `sql` selects (a `SELECT count(*) …`, or any bigint), on `conn`: the one
/// way the tests count rows.
pub async fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    query_count(conn, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn query_count(conn: &mut PgConnection, sql: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(AssertSqlSafe(sql.to_owned()))
        .fetch_one(conn)
        .await
}

async fn admin_connection(server: &str) -> PgConnection {
    let url = format!("{server}/postgres");
    match PgConnection::connect(&url).await {
        Ok(c) => c,
        Err(e) => panic!(
            "PostgreSQL is not reachable at {} ({e}). The store tests need a real server: \
             start it (e.g. `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`) \
             or point TEST_DATABASE_URL at one.",
            server
        ),
    }
}

async fn drop_database(server: &str, name: &str) {
    let Ok(mut admin) = PgConnection::connect(&format!("{server}/postgres")).await else {
        eprintln!("warning: could not connect to drop test database {name}");
        return;
    };
    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
    if let Err(e) = sqlx::query(AssertSqlSafe(sql)).execute(&mut admin).await {
        eprintln!("warning: could not drop test database {name}: {e}");
    }
    let _ = admin.close().await;
}
