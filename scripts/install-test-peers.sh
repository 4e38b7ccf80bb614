#!/usr/bin/env bash
# Installs the foreign SMPP peers that hato-smpp's interop tests run against
# (crates/hato-smpp/tests/interop): node-smpp from the npm registry and smpplib from PyPI, both
# pinned (package-lock.json, requirements.txt with hashes).
#
#   scripts/install-test-peers.sh
#
# Idempotent and fast when nothing changed: each install is skipped while a stamp holding the
# hash of its lock file matches. Installs into the work tree only (both ignored by git):
#   crates/hato-smpp/tests/interop/peers/node_modules   (npm ci)
#   .test-peers/venv                                     (python3 -m venv + pip)
# and prints the variables the tests read (they find these default locations on their own):
#   HATO_TEST_NODE_PEERS  the folder holding node_modules
#   HATO_TEST_PYTHON      the venv's python
# Needs node + npm and python3 (with venv) on PATH; NODE, NPM and PYTHON override them.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
peers="$root/crates/hato-smpp/tests/interop/peers"
venv="$root/.test-peers/venv"
node="${NODE:-node}"
npm="${NPM:-npm}"
python="${PYTHON:-python3}"

say() { printf 'install-test-peers: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
digest() { sha256sum "$@" | sha256sum | cut -d' ' -f1; }

command -v "$node" >/dev/null || die "node not found (needed for the node-smpp SMSC peer)"
command -v "$npm" >/dev/null || die "npm not found (needed to install node-smpp)"
command -v "$python" >/dev/null || die "python3 not found (needed for the smpplib ESME peer)"

# node-smpp: npm ci into peers/node_modules, skipped while the lock file is unchanged.
node_stamp="$peers/node_modules/.hato-lock-sha256"
node_want="$(digest "$peers/package.json" "$peers/package-lock.json")"
if [[ -f "$node_stamp" && "$(cat "$node_stamp")" == "$node_want" && -f "$peers/node_modules/smpp/package.json" ]]; then
    say "node peers up to date"
else
    say "npm ci in $peers"
    (cd "$peers" && "$npm" ci --no-audit --no-fund --loglevel=error) >&2
    printf '%s\n' "$node_want" >"$node_stamp"
fi
(cd "$peers" && "$node" -e 'require("smpp")') || die "node cannot load smpp from $peers/node_modules"

# smpplib: a venv under .test-peers, pip install --require-hashes, skipped while unchanged.
py_stamp="$venv/.hato-requirements-sha256"
py_want="$(digest "$peers/requirements.txt")"
if [[ -x "$venv/bin/python" && -f "$py_stamp" && "$(cat "$py_stamp")" == "$py_want" ]]; then
    say "python peers up to date"
else
    if [[ ! -x "$venv/bin/python" ]]; then
        say "creating $venv"
        "$python" -m venv "$venv" || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
    fi
    say "pip install -r requirements.txt into $venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes \
        -r "$peers/requirements.txt" >&2
    printf '%s\n' "$py_want" >"$py_stamp"
fi
"$venv/bin/python" -c 'import smpplib' || die "the venv cannot import smpplib"

printf 'export HATO_TEST_NODE_PEERS=%q\n' "$peers"
printf 'export HATO_TEST_PYTHON=%q\n' "$venv/bin/python"
