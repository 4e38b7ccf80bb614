#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this).
#
#   scripts/test.sh            formatting, lints, every test on SQLite and PostgreSQL, then
#                              a short run of every fuzz target (scripts/fuzz.sh)
#
# It starts this machine's PostgreSQL if it is down and runs the database tests on it too
# (HATO_TEST_DATABASE_URL); when PostgreSQL cannot be reached it says so and runs SQLite only.
# It installs the foreign SMPP peers the interop tests need (scripts/install-test-peers.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf '\n== %s\n' "$*"; }

say "PostgreSQL"
pg_up() { command -v pg_isready >/dev/null && pg_isready -h 127.0.0.1 -p 5432 -q; }
if ! pg_up && command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "PostgreSQL is down: starting it"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
    for _ in $(seq 1 30); do pg_up && break; sleep 1; done
fi
if pg_up; then
    export HATO_TEST_DATABASE_URL="${HATO_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
    echo "tests run on SQLite and on PostgreSQL ($HATO_TEST_DATABASE_URL)"
else
    echo "WARNING: PostgreSQL is not reachable on 127.0.0.1:5432: tests run on SQLite only"
fi

say "Test peers (node-smpp, smpplib)"
eval "$(scripts/install-test-peers.sh)"

say "Formatting"
cargo fmt --all -- --check

say "Lints"
cargo clippy --workspace --all-targets --locked -- -D warnings

say "Tests"
if command -v cargo-nextest >/dev/null; then
    cargo nextest run --workspace --locked --profile ci
else
    echo "cargo-nextest is not installed: using cargo test"
    cargo test --workspace --locked
fi

# A short run from the seeds catches a parser change that breaks a property; longer runs are
# `scripts/fuzz.sh SECONDS` by hand.
say "Fuzzing (every target, ${HATO_FUZZ_SECONDS:-15}s each)"
scripts/fuzz.sh "${HATO_FUZZ_SECONDS:-15}"
