//! Small helpers for building statements that run on both backends.

use std::fmt::Write;

use sqlx::AnyConnection;

/// A statement built at run time, ready to bind in `$1, $2, …` order.
///
/// On SQLite, a statement whose `$1, $2, …` each appear once and in order is sent with
/// anonymous `?` placeholders instead: sqlx-sqlite looks up the name of every parameter, and
/// SQLite finds a name by scanning all of them, so a statement's binding cost grows with the
/// square of its size (a tenth of the writer's time with ~1,000-parameter statements).
/// Other statements are sent as written.
pub(crate) fn statement(conn: &AnyConnection, sql: String) -> sqlx::AssertSqlSafe<String> {
    if conn.backend_name() == "SQLite"
        && let Some(anonymous) = anonymous_placeholders(&sql)
    {
        return sqlx::AssertSqlSafe(anonymous);
    }
    sqlx::AssertSqlSafe(sql)
}

/// `sql` with `$1, $2, …` replaced by `?`, if they appear exactly once each and in order.
/// Statements here never hold `$` in string literals.
fn anonymous_placeholders(sql: &str) -> Option<String> {
    let mut out = String::with_capacity(sql.len());
    let mut expected = 1usize;
    let mut rest = sql;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let digits = rest[dollar + 1..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        let number: usize = rest[dollar + 1..dollar + 1 + digits].parse().ok()?;
        if number != expected {
            return None;
        }
        expected += 1;
        out.push('?');
        rest = &rest[dollar + 1 + digits..];
    }
    out.push_str(rest);
    Some(out)
}

/// `$start, $start+1, …` for `count` values, for `IN (…)` lists.
pub(crate) fn placeholder_list(start: usize, count: usize) -> String {
    let mut out = String::with_capacity(count * 4);
    for i in 0..count {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "${}", start + i);
    }
    out
}

/// `($1,…,$cols),($cols+1,…)` for a multi-row `INSERT … VALUES`.
pub(crate) fn values_rows(rows: usize, cols: usize) -> String {
    values_rows_from(1, rows, cols)
}

/// Like [`values_rows`], numbering from `$start`, for statements with other parameters first.
pub(crate) fn values_rows_from(start: usize, rows: usize, cols: usize) -> String {
    let mut out = String::with_capacity(rows * cols * 5);
    for row in 0..rows {
        if row > 0 {
            out.push(',');
        }
        out.push('(');
        out.push_str(&placeholder_list(start + row * cols, cols));
        out.push(')');
    }
    out
}

/// Rows per multi-row statement: about a thousand parameters. Far below both backends'
/// limits, and small on purpose: a statement that [`statement`] cannot send with anonymous
/// placeholders binds at a cost growing with the square of its size (measured: 88% of the
/// server's CPU at 10,500 named parameters per statement).
pub(crate) fn rows_per_statement(cols: usize) -> usize {
    (1_000 / cols).clamp(1, 500)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_placeholders() {
        assert_eq!(placeholder_list(3, 3), "$3,$4,$5");
        assert_eq!(values_rows(2, 2), "($1,$2),($3,$4)");
        assert_eq!(values_rows_from(3, 2, 2), "($3,$4),($5,$6)");
    }

    #[test]
    fn placeholders_in_order_become_anonymous() {
        assert_eq!(
            anonymous_placeholders("SELECT a FROM t WHERE b = $1 AND c IN ($2,$3)").as_deref(),
            Some("SELECT a FROM t WHERE b = ? AND c IN (?,?)")
        );
        assert_eq!(
            anonymous_placeholders("SELECT 1").as_deref(),
            Some("SELECT 1")
        );
        // Reused, out of order or malformed: left as written.
        assert_eq!(anonymous_placeholders("SET a = $1, b = $1"), None);
        assert_eq!(anonymous_placeholders("VALUES ($2, $1)"), None);
        assert_eq!(anonymous_placeholders("VALUES ($)"), None);
    }
}
