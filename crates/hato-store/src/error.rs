/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("database error")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database url `{0}`: expected sqlite:// or postgres://")]
    UnsupportedUrl(String),
    #[error("a stored row is not valid: {0}")]
    Corrupt(String),
    #[error("the shared insert transaction failed: {0}")]
    GroupCommit(String),
    #[error("{0}")]
    Ambiguous(String),
    #[error("the writer thread could not start")]
    Writer(#[source] std::io::Error),
    #[error("the store is shutting down")]
    Closed,
}

impl StoreError {
    pub(crate) fn corrupt(what: impl Into<String>) -> Self {
        Self::Corrupt(what.into())
    }
}
