//! Opening the database file.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use stageline_engine::{PortError, System};

/// The pipeline's durable state in one SQLite file.
#[derive(Clone)]
pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path` and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<SqliteStore, PortError> {
        Self::open_inner(path).await.map_err(|e| {
            PortError::new(
                System::Store,
                format!("Could not open the database {}: {e:#}", path.display()),
            )
        })
    }

    async fn open_inner(path: &Path) -> anyhow::Result<SqliteStore> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        // Up to 4 connections while busy; idle ones close after 5 s (each has
        // a worker thread and a page cache), so an idle app keeps one. A
        // connection opens in about a millisecond, so a busy pipeline loses
        // nothing by reopening one.
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(1)
            .idle_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .context("connecting")?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .context("running migrations")?;
        Ok(SqliteStore { pool })
    }

    /// Opens an existing database for reading only (the command line while
    /// the app is not running): nothing is written, no migration runs.
    pub async fn open_read_only(path: &Path) -> Result<SqliteStore, PortError> {
        let open = async {
            let options = SqliteConnectOptions::from_str("sqlite:")?
                .filename(path)
                .read_only(true)
                .busy_timeout(Duration::from_secs(5));
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await
                .context("connecting")?;
            Ok::<_, anyhow::Error>(SqliteStore { pool })
        };
        open.await.map_err(|e| {
            PortError::new(
                System::Store,
                format!("Could not read the database {}: {e:#}", path.display()),
            )
        })
    }

    /// The value of a pragma on a pooled connection (`journal_mode`, `foreign_keys`…).
    pub async fn pragma(&self, name: &str) -> Result<String, PortError> {
        let allowed = [
            "journal_mode",
            "foreign_keys",
            "busy_timeout",
            "synchronous",
        ];
        if !allowed.contains(&name) {
            return Err(store_error(
                "read a setting",
                format!("unknown pragma {name}"),
            ));
        }
        let sql = format!("SELECT CAST({name} AS TEXT) FROM pragma_{name}");
        let (value,): (String,) = sqlx::query_as(&sql)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| store_error("read a setting", e))?;
        Ok(value)
    }

    /// Closes every connection (the file is complete after this).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A database failure as the user sees it.
pub(crate) fn store_error(what: &str, error: impl std::fmt::Display) -> PortError {
    PortError::new(
        System::Store,
        format!("Could not {what} in the database: {error}"),
    )
}
