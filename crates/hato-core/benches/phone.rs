//! What checking a phone number costs: `cargo bench -p hato-core --bench phone`.
//!
//! Each case parses 20,000 numbers, five rounds after one round to warm up (metadata loaded,
//! patterns compiled), and prints the median time per number with the fastest and slowest
//! round. Japanese numbers are spread over the range as `hato bench` spreads its recipients;
//! the mixed case cycles through 16 countries' mobile numbers. No timing is asserted: the
//! figures go to BENCHMARKS.md.

use std::hint::black_box;
use std::time::Instant;

use hato_core::phone::PhoneNumber;

const NUMBERS: usize = 20_000;
const ROUNDS: usize = 5;

const MIXED: [&str; 16] = [
    "+81 90 1234 5678",
    "+1 202 555 0123",
    "+44 7911 123456",
    "+49 1512 3456789",
    "+33 6 12 34 56 78",
    "+39 312 345 6789",
    "+34 612 34 56 78",
    "+61 412 345 678",
    "+86 138 0013 8000",
    "+82 10 1234 5678",
    "+91 98765 43210",
    "+55 11 91234 5678",
    "+7 912 345 67 89",
    "+52 1 55 1234 5678",
    "+65 9123 4567",
    "+66 81 234 5678",
];

fn japanese(index: u64, format: fn(u64) -> String) -> String {
    format(index * 7_919_993 % 10_000_000)
}

fn main() {
    let cases: [(&str, Vec<String>); 4] = [
        (
            "Japan, E.164",
            (0..NUMBERS as u64)
                .map(|i| japanese(i, |d| format!("+81901{d:07}")))
                .collect(),
        ),
        (
            "Japan, national (090-…)",
            (0..NUMBERS as u64)
                .map(|i| japanese(i, |d| format!("090-1{:03}-{:04}", d / 10_000, d % 10_000)))
                .collect(),
        ),
        (
            "16 countries, E.164",
            (0..NUMBERS)
                .map(|i| MIXED[i % MIXED.len()].replace(' ', ""))
                .collect(),
        ),
        (
            "16 countries, spaced",
            (0..NUMBERS)
                .map(|i| MIXED[i % MIXED.len()].to_owned())
                .collect(),
        ),
    ];
    PhoneNumber::warm_up("JP");
    println!(
        "{:<26} {:>10} {:>22}",
        "case", "µs/number", "fastest – slowest"
    );
    for (name, inputs) in &cases {
        let round = || {
            let started = Instant::now();
            let valid = inputs
                .iter()
                .filter(|input| PhoneNumber::parse(black_box(input), "JP").is_ok())
                .count();
            (
                started.elapsed().as_secs_f64() * 1e6 / inputs.len() as f64,
                valid,
            )
        };
        let (_, valid) = round();
        let mut times: Vec<f64> = (0..ROUNDS).map(|_| round().0).collect();
        times.sort_by(f64::total_cmp);
        println!(
            "{name:<26} {:>10.2} {:>10.2} – {:<10.2} ({valid} of {} valid)",
            times[ROUNDS / 2],
            times[0],
            times[ROUNDS - 1],
            inputs.len()
        );
    }
}
