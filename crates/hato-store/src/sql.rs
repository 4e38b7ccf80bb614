//! Small helpers for building statements that run on both backends.

use std::fmt::Write;

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
/// limits, and small on purpose: binding named parameters through sqlx costs the square of
/// their number (measured: 88% of the server's CPU at 10,500 per statement), and every size
/// of statement is one more in the prepared-statement caches.
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
}
