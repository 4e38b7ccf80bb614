//! Test support (feature `testing`): a fresh PostgreSQL database per test, so tests of any
//! crate run against PostgreSQL without sharing state and without writing SQL themselves.

use sqlx::{AnyConnection, Connection, Executor};

use crate::{Result, StoreError};

/// A database created for one test; [`TestDatabase::drop_database`] removes it.
#[derive(Debug)]
pub struct TestDatabase {
    /// Connection URL of the new database, for [`Store::open`](crate::Store::open).
    pub url: String,
    admin_url: String,
    name: String,
}

impl TestDatabase {
    /// Creates a database with a random name on the server `admin_url` points to (the URL
    /// of any database there, used only to run `CREATE DATABASE`).
    pub async fn create(admin_url: &str) -> Result<TestDatabase> {
        sqlx::any::install_default_drivers();
        let id = hato_core::MessageId::generate();
        let suffix = id.as_str().trim_start_matches("msg_");
        let name = format!("hato_test_{suffix}");
        let mut conn = AnyConnection::connect(admin_url).await?;
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await?;
        conn.close().await?;
        Ok(TestDatabase {
            url: with_database(admin_url, &name)?,
            admin_url: admin_url.to_owned(),
            name,
        })
    }

    /// Drops the database, disconnecting whoever still uses it.
    pub async fn drop_database(self) -> Result<()> {
        let mut conn = AnyConnection::connect(&self.admin_url).await?;
        conn.execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .await?;
        conn.close().await?;
        Ok(())
    }
}

/// `url` with its database path replaced by `name`, query kept.
fn with_database(url: &str, name: &str) -> Result<String> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base
        .find("://")
        .map(|i| i + 3)
        .ok_or_else(|| StoreError::UnsupportedUrl(url.to_owned()))?;
    let authority_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{name}", &base[..authority_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_database() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres?sslmode=disable", "x").ok(),
            Some("postgres://u@h:5432/x?sslmode=disable".to_owned())
        );
        assert_eq!(
            with_database("postgres://u@h", "x").ok(),
            Some("postgres://u@h/x".to_owned())
        );
    }
}
