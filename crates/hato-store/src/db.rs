//! One way to run a statement, whichever connection runs it.
//!
//! Writes on SQLite go to one connection that the store owns (rusqlite), driven synchronously
//! on the writer thread; reads, and everything on PostgreSQL, go through sqlx pools. Store
//! code builds a [`Query`] with `$n` placeholders and runs it on a transaction ([`Tx`]), the
//! writer ([`WriteDb`]) or a read pool, and reads the answer as [`Row`]s; the SQL text is the
//! same everywhere.
//!
//! Why SQLite writes do not go through sqlx: sqlx runs each SQLite connection on a thread of
//! its own and hands every statement, and every row it returns, over a channel to that thread
//! and back. Under load the single writer connection was busy all the time while its thread
//! worked a third of it, the rest being hand-offs (measured: ~30 µs per returned row, about
//! ten thread switches per message). Driven from the writer thread itself, a whole
//! transaction runs without a switch.

use std::{borrow::Cow, sync::Arc};

use sqlx::{Any, AnyPool};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::{Result, StoreError};

/// A value bound to a placeholder. NULLs carry their type: PostgreSQL wants one.
#[derive(Debug, Clone)]
pub(crate) enum Value<'q> {
    Int(i64),
    Text(Cow<'q, str>),
    NullInt,
    NullText,
}

/// What [`Query::bind`] accepts.
pub(crate) trait Bind<'q> {
    fn into_value(self) -> Value<'q>;
}

impl<'q> Bind<'q> for i64 {
    fn into_value(self) -> Value<'q> {
        Value::Int(self)
    }
}

impl<'q> Bind<'q> for &'q str {
    fn into_value(self) -> Value<'q> {
        Value::Text(Cow::Borrowed(self))
    }
}

impl<'q> Bind<'q> for String {
    fn into_value(self) -> Value<'q> {
        Value::Text(Cow::Owned(self))
    }
}

impl<'q> Bind<'q> for Option<i64> {
    fn into_value(self) -> Value<'q> {
        self.map_or(Value::NullInt, Value::Int)
    }
}

impl<'q> Bind<'q> for Option<&'q str> {
    fn into_value(self) -> Value<'q> {
        self.map_or(Value::NullText, |text| Value::Text(Cow::Borrowed(text)))
    }
}

impl<'q> Bind<'q> for Option<String> {
    fn into_value(self) -> Value<'q> {
        self.map_or(Value::NullText, |text| Value::Text(Cow::Owned(text)))
    }
}

/// A statement with `$1, $2, …` placeholders and the values bound to them, in order.
pub(crate) struct Query<'q> {
    sql: Cow<'q, str>,
    values: Vec<Value<'q>>,
}

/// A statement's SQL. Statements are built from constants and placeholders, never from
/// values; that is what makes run-time SQL safe here.
pub(crate) fn query<'q>(sql: impl Into<Cow<'q, str>>) -> Query<'q> {
    Query {
        sql: sql.into(),
        values: Vec::new(),
    }
}

/// Where a statement runs.
pub(crate) enum Target<'c> {
    Tx(&'c mut Tx),
    Write(&'c WriteDb),
    Read(&'c AnyPool),
}

impl<'c> From<&'c mut Tx> for Target<'c> {
    fn from(tx: &'c mut Tx) -> Self {
        Self::Tx(tx)
    }
}

impl<'c> From<&'c WriteDb> for Target<'c> {
    fn from(write: &'c WriteDb) -> Self {
        Self::Write(write)
    }
}

impl<'c> From<&'c AnyPool> for Target<'c> {
    fn from(pool: &'c AnyPool) -> Self {
        Self::Read(pool)
    }
}

/// What a statement without rows did.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Done {
    rows_affected: u64,
}

impl Done {
    pub(crate) fn rows_affected(self) -> u64 {
        self.rows_affected
    }
}

impl<'q> Query<'q> {
    pub(crate) fn bind(mut self, value: impl Bind<'q>) -> Self {
        self.values.push(value.into_value());
        self
    }

    pub(crate) async fn execute<'c>(self, target: impl Into<Target<'c>>) -> Result<Done> {
        let rows_affected = match target.into() {
            Target::Tx(Tx::Sqlite(tx)) => sqlite_execute(&tx.conn, &self)?,
            Target::Tx(Tx::Any(tx)) => self.into_sqlx().execute(&mut **tx).await?.rows_affected(),
            Target::Write(WriteDb::Sqlite(conn)) => sqlite_execute(&*conn.lock().await, &self)?,
            Target::Write(WriteDb::Any(pool)) | Target::Read(pool) => {
                self.into_sqlx().execute(pool).await?.rows_affected()
            }
        };
        Ok(Done { rows_affected })
    }

    pub(crate) async fn fetch_all<'c>(self, target: impl Into<Target<'c>>) -> Result<Vec<Row>> {
        let any = |rows: Vec<sqlx::any::AnyRow>| rows.into_iter().map(Row::Any).collect();
        Ok(match target.into() {
            Target::Tx(Tx::Sqlite(tx)) => sqlite_fetch(&tx.conn, &self)?,
            Target::Tx(Tx::Any(tx)) => any(self.into_sqlx().fetch_all(&mut **tx).await?),
            Target::Write(WriteDb::Sqlite(conn)) => sqlite_fetch(&*conn.lock().await, &self)?,
            Target::Write(WriteDb::Any(pool)) | Target::Read(pool) => {
                any(self.into_sqlx().fetch_all(pool).await?)
            }
        })
    }

    pub(crate) async fn fetch_optional<'c>(
        self,
        target: impl Into<Target<'c>>,
    ) -> Result<Option<Row>> {
        Ok(self.fetch_all(target).await?.into_iter().next())
    }

    pub(crate) async fn fetch_one<'c>(self, target: impl Into<Target<'c>>) -> Result<Row> {
        self.fetch_optional(target)
            .await?
            .ok_or(StoreError::Database(sqlx::Error::RowNotFound))
    }

    fn into_sqlx(self) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments> {
        let mut query = match self.sql {
            Cow::Borrowed(sql) => sqlx::query(sqlx::AssertSqlSafe(sql)),
            Cow::Owned(sql) => sqlx::query(sqlx::AssertSqlSafe(sql)),
        };
        for value in self.values {
            query = match value {
                Value::Int(number) => query.bind(number),
                Value::Text(Cow::Borrowed(text)) => query.bind(text),
                Value::Text(Cow::Owned(text)) => query.bind(text),
                Value::NullInt => query.bind(None::<i64>),
                Value::NullText => query.bind(None::<String>),
            };
        }
        query
    }
}

/// Prepares (from the connection's cache) and binds a statement.
///
/// SQLite is given anonymous `?` placeholders, each bound to the value its `$n` named: SQLite
/// keeps named parameters in a list it scans to find a name, both when it parses a statement
/// and when asked for a parameter's name, so a statement's cost grew with the square of its
/// parameters (measured: a fifth of the writer thread's time with ~1,000 per statement).
fn sqlite_prepare<'c>(
    conn: &'c rusqlite::Connection,
    query: &Query<'_>,
) -> rusqlite::Result<rusqlite::CachedStatement<'c>> {
    let (sql, numbers) = anonymous_placeholders(&query.sql);
    let mut statement = conn.prepare_cached(&sql)?;
    for index in 1..=statement.parameter_count() {
        let number = numbers.get(index - 1).copied().unwrap_or(index);
        let value = number
            .checked_sub(1)
            .and_then(|i| query.values.get(i))
            .ok_or(rusqlite::Error::InvalidParameterCount(
                number,
                query.values.len(),
            ))?;
        match value {
            Value::Int(number) => statement.raw_bind_parameter(index, number)?,
            Value::Text(text) => statement.raw_bind_parameter(index, text.as_ref())?,
            Value::NullInt | Value::NullText => {
                statement.raw_bind_parameter(index, rusqlite::types::Null)?
            }
        }
    }
    Ok(statement)
}

/// `sql` with every `$n` replaced by `?`, and the `n` of each in order of appearance (a `$n`
/// used twice is bound twice). Statements here never hold `$` in string literals.
fn anonymous_placeholders(sql: &str) -> (Cow<'_, str>, Vec<usize>) {
    if !sql.contains('$') {
        return (Cow::Borrowed(sql), Vec::new());
    }
    let mut out = String::with_capacity(sql.len());
    let mut numbers = Vec::new();
    let mut rest = sql;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        match after[..digits].parse::<usize>() {
            Ok(number) => {
                numbers.push(number);
                out.push('?');
            }
            Err(_) => out.push('$'),
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    (Cow::Owned(out), numbers)
}

fn sqlite_execute(conn: &rusqlite::Connection, query: &Query<'_>) -> rusqlite::Result<u64> {
    let mut statement = sqlite_prepare(conn, query)?;
    if statement.column_count() > 0 {
        // A statement with RETURNING: step through it; rows affected are the rows returned.
        let mut rows = statement.raw_query();
        let mut count = 0;
        while rows.next()?.is_some() {
            count += 1;
        }
        return Ok(count);
    }
    Ok(statement.raw_execute()? as u64)
}

fn sqlite_fetch(conn: &rusqlite::Connection, query: &Query<'_>) -> rusqlite::Result<Vec<Row>> {
    let mut statement = sqlite_prepare(conn, query)?;
    let names: Arc<[String]> = statement
        .column_names()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let mut rows = statement.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut cells = Vec::with_capacity(names.len());
        for index in 0..names.len() {
            cells.push(match row.get_ref(index)? {
                rusqlite::types::ValueRef::Null => Cell::Null,
                rusqlite::types::ValueRef::Integer(number) => Cell::Int(number),
                rusqlite::types::ValueRef::Real(number) => Cell::Real(number),
                rusqlite::types::ValueRef::Text(text) | rusqlite::types::ValueRef::Blob(text) => {
                    Cell::Text(String::from_utf8_lossy(text).into_owned())
                }
            });
        }
        out.push(Row::Sqlite {
            names: names.clone(),
            cells,
        });
    }
    Ok(out)
}

/// A value read from the SQLite writer connection.
#[derive(Clone)]
pub(crate) enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl Cell {
    fn describe(&self) -> String {
        match self {
            Self::Null => "NULL".to_owned(),
            Self::Int(number) => format!("integer {number}"),
            Self::Real(number) => format!("real {number}"),
            Self::Text(text) => format!("text of {} bytes", text.len()),
        }
    }
}

/// A row, from whichever connection answered.
pub(crate) enum Row {
    Sqlite {
        names: Arc<[String]>,
        cells: Vec<Cell>,
    },
    Any(sqlx::any::AnyRow),
}

impl Row {
    /// The value of `column`, as `T`.
    pub(crate) fn try_get<T: Decode, I: AsRef<str>>(&self, column: I) -> Result<T> {
        let column = column.as_ref();
        match self {
            Self::Any(row) => Ok(sqlx::Row::try_get(row, column)?),
            Self::Sqlite { names, cells } => {
                let cell = names
                    .iter()
                    .position(|name| name == column)
                    .map(|index| &cells[index])
                    .ok_or_else(|| {
                        StoreError::Database(sqlx::Error::ColumnNotFound(column.to_owned()))
                    })?;
                T::from_cell(cell).ok_or_else(|| {
                    StoreError::corrupt(format!("column {column}: unexpected {}", cell.describe()))
                })
            }
        }
    }
}

/// A type a column can be read as.
pub(crate) trait Decode: Sized + for<'r> sqlx::Decode<'r, Any> + sqlx::Type<Any> {
    fn from_cell(cell: &Cell) -> Option<Self>;
}

impl Decode for i64 {
    fn from_cell(cell: &Cell) -> Option<Self> {
        match cell {
            Cell::Int(number) => Some(*number),
            _ => None,
        }
    }
}

impl Decode for String {
    fn from_cell(cell: &Cell) -> Option<Self> {
        match cell {
            Cell::Text(text) => Some(text.clone()),
            _ => None,
        }
    }
}

impl<T: Decode> Decode for Option<T> {
    fn from_cell(cell: &Cell) -> Option<Self> {
        match cell {
            Cell::Null => Some(None),
            other => T::from_cell(other).map(Some),
        }
    }
}

/// The writer: SQLite's one write connection, or the PostgreSQL pool.
#[derive(Clone)]
pub(crate) enum WriteDb {
    Sqlite(Arc<Mutex<rusqlite::Connection>>),
    Any(AnyPool),
}

impl WriteDb {
    /// Starts a write transaction. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so a transaction that reads before it writes never finds its
    /// snapshot stale when another process (the CLI) wrote meanwhile.
    pub(crate) async fn begin(&self) -> Result<Tx> {
        match self {
            Self::Sqlite(conn) => {
                let conn = conn.clone().lock_owned().await;
                conn.prepare_cached("BEGIN IMMEDIATE")?.raw_execute()?;
                Ok(Tx::Sqlite(SqliteTx { conn, open: true }))
            }
            Self::Any(pool) => Ok(Tx::Any(pool.begin().await?)),
        }
    }

    /// Waits for the transaction in flight, then closes the pool (PostgreSQL); the SQLite
    /// connection closes with the last store handle.
    pub(crate) async fn close(&self) {
        match self {
            Self::Sqlite(conn) => drop(conn.lock().await),
            Self::Any(pool) => pool.close().await,
        }
    }
}

/// A write transaction; rolled back if dropped before [`Tx::commit`].
pub(crate) enum Tx {
    Sqlite(SqliteTx),
    Any(sqlx::Transaction<'static, Any>),
}

pub(crate) struct SqliteTx {
    conn: OwnedMutexGuard<rusqlite::Connection>,
    open: bool,
}

impl Tx {
    pub(crate) async fn commit(self) -> Result<()> {
        match self {
            Self::Sqlite(mut tx) => {
                tx.conn.prepare_cached("COMMIT")?.raw_execute()?;
                tx.open = false;
            }
            Self::Any(tx) => tx.commit().await?,
        }
        Ok(())
    }

    pub(crate) async fn rollback(self) -> Result<()> {
        match self {
            Self::Sqlite(mut tx) => {
                tx.open = false;
                tx.conn.prepare_cached("ROLLBACK")?.raw_execute()?;
            }
            Self::Any(tx) => tx.rollback().await?,
        }
        Ok(())
    }
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        if self.open {
            // Fails harmlessly when SQLite already rolled back (after some errors it does).
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_anonymous_in_order_of_appearance() {
        let (sql, numbers) =
            anonymous_placeholders("UPDATE t SET a = $2, b = $1 WHERE c = $1 OR d IN ($3,$10)");
        assert_eq!(sql, "UPDATE t SET a = ?, b = ? WHERE c = ? OR d IN (?,?)");
        assert_eq!(numbers, [2, 1, 1, 3, 10]);
        let (sql, numbers) = anonymous_placeholders("SELECT 1");
        assert!(matches!(sql, Cow::Borrowed("SELECT 1")));
        assert!(numbers.is_empty());
    }

    #[test]
    fn binds_values_by_number_on_sqlite() {
        let conn = rusqlite::Connection::open_in_memory().expect("open");
        let rows = sqlite_fetch(
            &conn,
            &query("SELECT $2 AS b, $1 AS a, $2 AS b2, $3 AS n")
                .bind("one")
                .bind(2)
                .bind(None::<&str>),
        )
        .expect("select");
        let row = &rows[0];
        assert_eq!(row.try_get::<i64, _>("b").expect("b"), 2);
        assert_eq!(row.try_get::<String, _>("a").expect("a"), "one");
        assert_eq!(row.try_get::<i64, _>("b2").expect("b2"), 2);
        assert_eq!(row.try_get::<Option<String>, _>("n").expect("n"), None);
        assert!(row.try_get::<String, _>("b").is_err());
        assert!(row.try_get::<i64, _>("missing").is_err());
        // Too few values is an error, not a NULL.
        assert!(sqlite_fetch(&conn, &query("SELECT $1, $2").bind(1)).is_err());
    }
}
