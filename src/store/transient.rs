//! Which database errors may go away by waiting: `run` retries those at start and stops
//! with the message on any other (bad credentials, a missing privilege, a schema it
//! cannot work with), since retrying them forever would only hide them.
use super::{SchemaError, StoreError};
use sqlx::migrate::MigrateError;
use std::io::ErrorKind;

impl StoreError {
    /// True when retrying later may succeed: the server is unreachable, starting,
    /// shutting down or full. False for what only a person can fix.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::InvalidUrl(_) | Self::Unexpected(_) => false,
            Self::Connect { source, .. } | Self::Db(source) => sqlx_is_transient(source),
            Self::Migrate(e) => migrate_is_transient(e),
            Self::Schema(SchemaError::CannotCreate { source, .. }) => sqlx_is_transient(source),
            Self::Schema(_) => false,
        }
    }
}

fn migrate_is_transient(e: &MigrateError) -> bool {
    match e {
        MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _) => sqlx_is_transient(e),
        // Checksums, unknown or half-applied migrations: the schema, not the moment.
        _ => false,
    }
}

fn sqlx_is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(e) => io_is_transient(e.kind()),
        sqlx::Error::Database(db) => db.code().is_some_and(|c| sqlstate_is_transient(&c)),
        sqlx::Error::PoolTimedOut => true,
        sqlx::Error::Migrate(e) => migrate_is_transient(e),
        // Configuration, TLS setup, protocol and decoding errors, a closed pool.
        _ => false,
    }
}

/// I/O errors are the network or a server not up yet (refused, reset, timed out, a
/// host name not resolving yet while its container starts), except those that say the
/// bytes or the request were wrong (a TLS certificate rejected shows as invalid data).
fn io_is_transient(kind: ErrorKind) -> bool {
    !matches!(
        kind,
        ErrorKind::InvalidData
            | ErrorKind::InvalidInput
            | ErrorKind::PermissionDenied
            | ErrorKind::Unsupported
    )
}

/// SQLSTATE codes that mean "not now" rather than "no".
fn sqlstate_is_transient(code: &str) -> bool {
    // Class 08: connection exceptions.
    code.starts_with("08")
        || matches!(
            code,
            "57P01" // admin_shutdown
            | "57P02" // crash_shutdown
            | "57P03" // cannot_connect_now (starting up, in recovery)
            | "53300" // too_many_connections
            | "40001" // serialization_failure
            | "40P01" // deadlock_detected
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::error::{DatabaseError, ErrorKind as DbErrorKind};
    use std::borrow::Cow;

    /// A server error with a SQLSTATE, as sqlx hands it over.
    #[derive(Debug)]
    struct ServerError(&'static str);

    impl std::fmt::Display for ServerError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "SQLSTATE {}", self.0)
        }
    }

    impl std::error::Error for ServerError {}

    impl DatabaseError for ServerError {
        fn message(&self) -> &str {
            "server error"
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.0))
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> DbErrorKind {
            DbErrorKind::Other
        }
    }

    fn server(code: &'static str) -> StoreError {
        StoreError::Connect {
            target: "db:5432/leadrouter".into(),
            source: sqlx::Error::Database(Box::new(ServerError(code))),
        }
    }

    fn io(kind: ErrorKind) -> StoreError {
        StoreError::Connect {
            target: "db:5432/leadrouter".into(),
            source: sqlx::Error::Io(std::io::Error::new(kind, "io")),
        }
    }

    #[test]
    fn servers_coming_and_going_are_transient() {
        for code in [
            "57P01", "57P02", "57P03", "53300", "08000", "08006", "08001", "40001",
        ] {
            assert!(server(code).is_transient(), "{code}");
        }
        for kind in [
            ErrorKind::ConnectionRefused,
            ErrorKind::ConnectionReset,
            ErrorKind::ConnectionAborted,
            ErrorKind::TimedOut,
            ErrorKind::UnexpectedEof,
            ErrorKind::BrokenPipe,
            ErrorKind::NotFound, // a Unix socket not there yet
            ErrorKind::Other,    // a host name that does not resolve yet
        ] {
            assert!(io(kind).is_transient(), "{kind:?}");
        }
        assert!(StoreError::Db(sqlx::Error::PoolTimedOut).is_transient());
        assert!(
            StoreError::Migrate(MigrateError::Execute(sqlx::Error::Io(
                std::io::Error::from(ErrorKind::ConnectionReset)
            )))
            .is_transient()
        );
    }

    #[test]
    fn what_a_person_must_fix_is_permanent() {
        // Bad password, no LOGIN or no pg_hba entry, no privilege, no database, a
        // statement the schema refuses.
        for code in ["28P01", "28000", "42501", "3D000", "42P01", "57P04"] {
            assert!(!server(code).is_transient(), "{code}");
        }
        // A rejected TLS certificate.
        assert!(!io(ErrorKind::InvalidData).is_transient());
        assert!(!StoreError::InvalidUrl("bad".into()).is_transient());
        assert!(!StoreError::Db(sqlx::Error::Tls("no TLS".into())).is_transient());
        for e in [
            MigrateError::VersionMismatch(2),
            MigrateError::VersionMissing(3),
            MigrateError::Dirty(2),
        ] {
            assert!(!StoreError::Migrate(e).is_transient());
        }
        let no_privilege =
            MigrateError::Execute(sqlx::Error::Database(Box::new(ServerError("42501"))));
        assert!(!StoreError::Migrate(no_privilege).is_transient());
        assert!(
            !StoreError::Schema(SchemaError::Newer {
                target: "db:5432/leadrouter".into(),
                unknown: vec![3],
            })
            .is_transient()
        );
        let refused = SchemaError::CannotCreate {
            server: "db:5432".into(),
            database: "leadrouter".into(),
            source: sqlx::Error::Database(Box::new(ServerError("42501"))),
        };
        assert!(!StoreError::Schema(refused).is_transient());
    }
}
