//! Running a [`Query`] on the SQLite write connection (rusqlite), synchronously.

use std::{borrow::Cow, sync::Arc};

use super::{Anonymous, Cell, Query, Row, Value};

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
    let computed;
    let (sql, numbers): (&str, &[usize]) = match query.anonymous {
        Some(Anonymous { sql, numbers }) => (sql, numbers),
        None => {
            computed = anonymous_placeholders(&query.sql);
            (&computed.0, &computed.1)
        }
    };
    let mut statement = conn.prepare_cached(sql)?;
    for index in 1..=statement.parameter_count() {
        let number = numbers.get(index - 1).copied().unwrap_or(index);
        let value = number
            .checked_sub(1)
            .and_then(|i| query.values.get(i))
            .ok_or_else(|| rusqlite::Error::InvalidParameterCount(number, query.values.len()))?;
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
pub(super) fn anonymous_placeholders(sql: &str) -> (Cow<'_, str>, Vec<usize>) {
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

pub(super) fn sqlite_execute(
    conn: &rusqlite::Connection,
    query: &Query<'_>,
) -> rusqlite::Result<u64> {
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

pub(super) fn sqlite_fetch(
    conn: &rusqlite::Connection,
    query: &Query<'_>,
) -> rusqlite::Result<Vec<Row>> {
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
                    // Valid UTF-8 (all text this store writes) takes the quick check.
                    Cell::Text(match std::str::from_utf8(text) {
                        Ok(text) => text.to_owned(),
                        Err(_) => String::from_utf8_lossy(text).into_owned(),
                    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::query;

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
