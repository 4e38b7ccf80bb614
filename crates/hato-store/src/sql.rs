//! Small helpers for building statements that run on both backends.
//!
//! Multi-row statements (`VALUES (…),(…)`, `IN (…)`) have a text that depends on their number
//! of rows, and both backends parse and plan each text once and keep it in a cache. Rows are
//! therefore cut into a few sizes only ([`statement_chunks`]) and each statement's text is
//! built once per size ([`shaped`]): with any length allowed, the SQLite writer spent 8 % of
//! its time preparing statements it had seen in another length a moment before, and another
//! 8 % building and rewriting their text (`perf`, BENCHMARKS.md session 6).

use std::{
    collections::HashMap,
    fmt::Write,
    panic::Location,
    sync::{LazyLock, Mutex},
};

use crate::db::Shape;

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

/// Cuts `items` into the chunks of multi-row statements: full ones of `max` rows, then what
/// is left in powers of two, largest first (45 rows of at most 32 a statement: 32, 8, 4, 1).
/// A statement therefore comes in at most ~10 sizes, each prepared once and then found in the
/// statement caches, for a few more executions of a prepared statement, which cost far less
/// than parsing one.
pub(crate) fn statement_chunks<T>(items: &[T], max: usize) -> impl Iterator<Item = &[T]> {
    let max = max.max(1);
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let size = if rest.len() >= max {
            max
        } else {
            1 << rest.len().ilog2()
        };
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        Some(chunk)
    })
}

/// The statement built by `build` for `rows` rows, built once per call site, `variant` and
/// `rows`, and kept for the life of the process (in both backends' forms: see [`Shape`]).
///
/// `variant` stands for whatever else the text depends on at that call site (which statuses,
/// a `RETURNING` clause or not), `0` when nothing does; `rows` must come from
/// [`statement_chunks`] or another bounded set, so that what is kept stays small (a few hundred
/// statements of a few kilobytes).
#[track_caller]
pub(crate) fn shaped(variant: u64, rows: usize, build: impl FnOnce() -> String) -> &'static Shape {
    type Key = (&'static Location<'static>, u64, usize);
    static SHAPES: LazyLock<Mutex<HashMap<Key, &'static Shape>>> = LazyLock::new(Default::default);
    let key = (Location::caller(), variant, rows);
    if let Some(shape) = SHAPES.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return shape;
    }
    // Built outside the lock; two threads racing on a new shape build it twice and keep one.
    let shape: &'static Shape = Box::leak(Box::new(Shape::new(build())));
    let mut shapes = SHAPES.lock().unwrap_or_else(|e| e.into_inner());
    shapes.entry(key).or_insert(shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_come_in_few_sizes() {
        let items: Vec<usize> = (0..1_000).collect();
        for len in [0, 1, 2, 3, 45, 55, 64, 100, 999, 1_000] {
            let sizes: Vec<usize> = statement_chunks(&items[..len], 45)
                .map(<[_]>::len)
                .collect();
            assert_eq!(sizes.iter().sum::<usize>(), len, "every item, once");
            assert!(
                sizes
                    .iter()
                    .all(|&n| n == 45 || (n.is_power_of_two() && n < 45))
            );
            assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "largest first");
        }
        let sizes: Vec<usize> = statement_chunks(&items[..100], 45)
            .map(<[_]>::len)
            .collect();
        assert_eq!(sizes, [45, 45, 8, 2]);
        let chunks: Vec<&[usize]> = statement_chunks(&items[..3], 45).collect();
        assert_eq!(chunks, [&[0, 1][..], &[2][..]], "in order");
    }

    #[test]
    fn shapes_are_built_once_per_call_site_variant_and_rows() {
        let mut built = 0;
        let mut shape = |variant, rows| {
            shaped(variant, rows, || {
                built += 1;
                format!("SELECT {}", placeholder_list(1, rows))
            })
        };
        let first = shape(0, 2);
        assert_eq!(first.text(), "SELECT $1,$2");
        assert!(std::ptr::eq(first, shape(0, 2)));
        assert!(!std::ptr::eq(first, shape(1, 2)));
        assert_eq!(shape(0, 3).text(), "SELECT $1,$2,$3");
        assert_eq!(built, 3);
    }

    #[test]
    fn builds_placeholders() {
        assert_eq!(placeholder_list(3, 3), "$3,$4,$5");
        assert_eq!(values_rows(2, 2), "($1,$2),($3,$4)");
        assert_eq!(values_rows_from(3, 2, 2), "($3,$4),($5,$6)");
    }
}
