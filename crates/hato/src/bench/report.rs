//! Figures of a run, and their median and spread over runs, against the targets.

use std::fmt::Write as _;

use serde_json::{Value, json};

/// What a figure should be to meet its target.
#[derive(Debug, Clone, Copy)]
pub enum Goal {
    AtLeast(f64),
    AtMost(f64),
}

impl Goal {
    fn met(self, value: f64) -> bool {
        match self {
            Goal::AtLeast(goal) => value >= goal,
            Goal::AtMost(goal) => value <= goal,
        }
    }

    fn describe(self) -> String {
        match self {
            Goal::AtLeast(goal) => format!(">= {}", number(goal)),
            Goal::AtMost(goal) => format!("<= {}", number(goal)),
        }
    }
}

/// One measured value of one run.
#[derive(Debug, Clone)]
pub struct Figure {
    pub key: &'static str,
    pub label: &'static str,
    pub unit: &'static str,
    pub value: f64,
    pub goal: Option<Goal>,
}

impl Figure {
    pub fn info(key: &'static str, label: &'static str, unit: &'static str, value: f64) -> Self {
        Self {
            key,
            label,
            unit,
            value,
            goal: None,
        }
    }

    pub fn goal(mut self, goal: Goal) -> Self {
        self.goal = Some(goal);
        self
    }
}

/// All runs of one scenario.
pub struct Summary {
    scenario: &'static str,
    setup: String,
    runs: Vec<Vec<Figure>>,
}

/// One figure over all runs.
struct Row<'a> {
    first: &'a Figure,
    values: Vec<f64>,
}

impl Row<'_> {
    fn median(&self) -> f64 {
        median(&self.values)
    }

    fn min(&self) -> f64 {
        self.values.iter().copied().fold(f64::INFINITY, f64::min)
    }

    fn max(&self) -> f64 {
        self.values
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max)
    }

    fn verdict(&self) -> Option<&'static str> {
        let goal = self.first.goal?;
        Some(if goal.met(self.median()) {
            "PASS"
        } else {
            "MISS"
        })
    }
}

impl Summary {
    pub fn new(scenario: &'static str, setup: String) -> Self {
        Self {
            scenario,
            setup,
            runs: Vec::new(),
        }
    }

    pub fn push(&mut self, figures: Vec<Figure>) {
        self.runs.push(figures);
    }

    /// Figures in the order of the first run, each with its values over every run that has it.
    fn rows(&self) -> Vec<Row<'_>> {
        let Some(first) = self.runs.first() else {
            return Vec::new();
        };
        first
            .iter()
            .map(|figure| Row {
                first: figure,
                values: self
                    .runs
                    .iter()
                    .filter_map(|run| run.iter().find(|f| f.key == figure.key))
                    .map(|f| f.value)
                    .filter(|v| v.is_finite())
                    .collect(),
            })
            .filter(|row| !row.values.is_empty())
            .collect()
    }

    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "scenario {}: {}", self.scenario, self.setup);
        let _ = writeln!(
            out,
            "{:<40} {:>12} {:>25} {:>14}  verdict",
            "figure", "median", "min – max", "target"
        );
        for row in self.rows() {
            let name = if row.first.unit.is_empty() {
                row.first.label.to_owned()
            } else {
                format!("{} ({})", row.first.label, row.first.unit)
            };
            let _ = writeln!(
                out,
                "{:<40} {:>12} {:>25} {:>14}  {}",
                name,
                number(row.median()),
                format!("{} – {}", number(row.min()), number(row.max())),
                row.first.goal.map(Goal::describe).unwrap_or_default(),
                row.verdict().unwrap_or_default(),
            );
        }
        let _ = writeln!(out, "runs: {}", self.runs.len());
        out
    }

    pub fn json(&self) -> Value {
        let figures: Vec<Value> = self
            .rows()
            .iter()
            .map(|row| {
                json!({
                    "key": row.first.key,
                    "label": row.first.label,
                    "unit": row.first.unit,
                    "median": row.median(),
                    "min": row.min(),
                    "max": row.max(),
                    "values": row.values,
                    "target": row.first.goal.map(Goal::describe),
                    "verdict": row.verdict(),
                })
            })
            .collect();
        json!({
            "scenario": self.scenario,
            "setup": self.setup,
            "runs": self.runs.len(),
            "figures": figures,
        })
    }
}

/// The figures of one run on one line, for progress.
pub fn one_line(figures: &[Figure]) -> String {
    figures
        .iter()
        .filter(|f| f.value.is_finite())
        .map(|f| format!("{}={}", f.key, number(f.value)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Three significant figures or so, without noise.
fn number(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 100.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_spread_over_runs() {
        let mut summary = Summary::new("single", String::new());
        for value in [3.0, 1.0, 2.0] {
            summary.push(vec![
                Figure::info("rate", "rate", "msg/s", value).goal(Goal::AtLeast(2.0)),
            ]);
        }
        let rows = summary.rows();
        assert_eq!(
            (rows[0].median(), rows[0].min(), rows[0].max()),
            (2.0, 1.0, 3.0)
        );
        assert_eq!(rows[0].verdict(), Some("PASS"));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
    }
}
