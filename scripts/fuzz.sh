#!/usr/bin/env bash
# Fuzzes one parser: scripts/fuzz.sh TARGET SECONDS [libFuzzer flags…]
#   scripts/fuzz.sh list               the targets (fuzz/fuzz_targets/)
#   scripts/fuzz.sh smoke SECONDS      every target for SECONDS each (CI runs this)
# Builds with cargo-fuzz (libFuzzer + AddressSanitizer, installed from crates.io if missing)
# on the nightly toolchain when rustup has one, else on stable with RUSTC_BOOTSTRAP=1 (the
# sanitizer flags are unstable). Seeds each target's corpus (fuzz/corpus/TARGET, not in Git)
# from testdata/ and fuzz/seeds/, leaving out seeds over MAX_LEN bytes: inputs are capped at
# 64 KiB, as a 1.6 MB seed (big10k.enc.yaml) made every mutation megabytes long and the YAML
# target 100x slower while adding no code paths. A crash is saved under fuzz/artifacts/TARGET/ and makes this
# script exit non-zero; fix it and add the input as a regression test beside the parser.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz@0.13.2
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  cargo_fuzz=(cargo +nightly fuzz)
else
  export RUSTC_BOOTSTRAP=1
  cargo_fuzz=(cargo fuzz)
fi

max_len=65536

targets() { ls fuzz/fuzz_targets | sed 's/\.rs$//'; }

# The seed files of TARGET, one path per line.
seeds() {
  case "$1" in
    sealed_manifest) find fuzz/seeds/sealed -name '*.yaml' -o -name '*.json' ;;
    sealed_ciphertext) find fuzz/seeds/ciphertext -type f ;;
    pem_keys) find testdata/sealed fuzz/seeds/sealed -name '*.pem' ;;
    enc_codec) find fuzz/seeds/enc -type f ;;
    sops_metadata) find fuzz/seeds/metadata -type f ;;
    sops_yaml) find testdata/sops -name '*.yaml' -o -name '*.yaml.plain' ;;
    sops_json) find testdata/sops -name '*.json' ;;
    sops_dotenv) find testdata/sops -name '*.env' -o -name '*.env.plain' ;;
    sops_ini) find testdata/sops -name '*.ini' -o -name '*.ini.plain' ;;
    sops_config) find testdata/sops fuzz/seeds -name '.sops.yaml' ;;
    go_template) find fuzz/seeds/template -type f ;;
    external_manifests) find fuzz/seeds/external -type f ;;
    external_property) find fuzz/seeds/property -type f ;;
    *) echo "unknown target $1: scripts/fuzz.sh list" >&2; exit 2 ;;
  esac
}

run() {
  local target=$1 seconds=$2
  shift 2
  local corpus=fuzz/corpus/$target
  mkdir -p "$corpus"
  # Named by content: many seeds share a file name (.sops.yaml).
  seeds "$target" | while read -r f; do
    [ -f "$f" ] && [ "$(stat -c %s "$f")" -le "$max_len" ] &&
      cp "$f" "$corpus/seed-$(sha1sum < "$f" | cut -c1-16)"
  done
  echo "fuzzing $target for ${seconds}s" >&2
  "${cargo_fuzz[@]}" run --fuzz-dir fuzz "$target" "$corpus" -- \
    -max_total_time="$seconds" -max_len="$max_len" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 "$@"
}

case "${1:-}" in
  list) targets ;;
  smoke)
    seconds=${2:?scripts/fuzz.sh smoke SECONDS}
    "${cargo_fuzz[@]}" build --fuzz-dir fuzz
    for t in $(targets); do run "$t" "$seconds"; done
    ;;
  "") echo "usage: scripts/fuzz.sh TARGET SECONDS | list | smoke SECONDS" >&2; exit 2 ;;
  *) run "$1" "${2:?scripts/fuzz.sh TARGET SECONDS}" "${@:3}" ;;
esac
