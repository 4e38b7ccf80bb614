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

mod sqlite;
mod tx;

use std::{borrow::Cow, sync::Arc};

use sqlx::{Any, AnyPool};

use crate::{Result, StoreError};
use sqlite::{anonymous_placeholders, sqlite_execute, sqlite_fetch};
pub(crate) use tx::{SqliteWriter, Tx, WriteDb};

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
    /// The SQLite form of `sql`, when it was made once for all ([`Shape`]).
    anonymous: Option<&'static Anonymous>,
    values: Vec<Value<'q>>,
}

/// A statement's SQL. Statements are built from constants and placeholders, never from
/// values; that is what makes run-time SQL safe here.
pub(crate) fn query<'q>(sql: impl Into<Cow<'q, str>>) -> Query<'q> {
    Query {
        sql: sql.into(),
        anonymous: None,
        values: Vec::new(),
    }
}

/// A statement kept for the life of the process ([`crate::sql::shaped`]), in both forms: its
/// text with `$n` placeholders, and the SQLite writer's form of it, so neither is built again.
pub(crate) struct Shape {
    text: String,
    anonymous: Anonymous,
}

/// SQL with anonymous `?` placeholders, and the `$n` each one stands for.
pub(crate) struct Anonymous {
    sql: String,
    numbers: Vec<usize>,
}

impl Shape {
    pub(crate) fn new(text: String) -> Self {
        let (sql, numbers) = anonymous_placeholders(&text);
        let anonymous = Anonymous {
            sql: sql.into_owned(),
            numbers,
        };
        Self { text, anonymous }
    }

    #[cfg(test)]
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// A query of this statement, to bind values to.
    pub(crate) fn query<'q>(&'static self) -> Query<'q> {
        Query {
            sql: Cow::Borrowed(&self.text),
            anonymous: Some(&self.anonymous),
            values: Vec::new(),
        }
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
            Target::Tx(Tx::Sqlite(tx)) => sqlite_execute(tx.conn(), &self)?,
            Target::Tx(Tx::Any(tx)) => self.into_sqlx().execute(&mut **tx).await?.rows_affected(),
            Target::Write(write @ WriteDb::Sqlite(_)) => {
                write.alone(|conn| sqlite_execute(conn, &self)).await?
            }
            Target::Write(WriteDb::Any(pool)) | Target::Read(pool) => {
                self.into_sqlx().execute(pool).await?.rows_affected()
            }
        };
        Ok(Done { rows_affected })
    }

    pub(crate) async fn fetch_all<'c>(self, target: impl Into<Target<'c>>) -> Result<Vec<Row>> {
        let any = |rows: Vec<sqlx::any::AnyRow>| rows.into_iter().map(Row::Any).collect();
        Ok(match target.into() {
            Target::Tx(Tx::Sqlite(tx)) => sqlite_fetch(tx.conn(), &self)?,
            Target::Tx(Tx::Any(tx)) => any(self.into_sqlx().fetch_all(&mut **tx).await?),
            Target::Write(write @ WriteDb::Sqlite(_)) => {
                write.alone(|conn| sqlite_fetch(conn, &self)).await?
            }
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
