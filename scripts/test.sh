#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs the test peers (kubesealpy, sops, moto,
# OpenBao and the emulator's Python in venvs; openssl, ssh-keygen, age, git and jq from Debian if
# missing), then checks formatting, runs every test and lints. Extra arguments go to `cargo test`
# (e.g. a test name filter).
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(tests/infra/install-peers.sh)"

cargo fmt --all -- --check
cargo test --workspace --all-targets "$@"
cargo test --workspace --doc
cargo clippy --workspace --all-targets -- -D warnings
