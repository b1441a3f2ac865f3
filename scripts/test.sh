#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs the test peers (kubesealpy, sops, moto,
# OpenBao and the emulator's Python in venvs; openssl, ssh-keygen, age, git and jq from Debian if
# missing), then checks formatting, runs every test and lints, and (without arguments) runs
# every fuzz target for a few seconds. Extra arguments go to `cargo test` (e.g. a test name
# filter).
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(tests/infra/install-peers.sh)"

cargo fmt --all -- --check
cargo test --workspace --all-targets "$@"
cargo test --workspace --doc
cargo clippy --workspace --all-targets -- -D warnings

# The fuzz targets (their own workspace, fuzz/): formatted, built with libFuzzer and
# AddressSanitizer, and each run briefly from its seeds. Long runs: scripts/fuzz.sh TARGET SECONDS.
if [ $# -eq 0 ]; then
  cargo fmt --manifest-path fuzz/Cargo.toml -- --check
  scripts/fuzz.sh smoke 10
fi
