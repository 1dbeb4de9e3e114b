#!/usr/bin/env bash
# Benchmark against the local emulators: starts DynamoDB Local + moto, runs the stack's `bench`
# binary in release mode, stops the emulators.
#
#   bash scripts/bench.sh [-- extra arguments for bench]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/emulators.sh
source scripts/emulators.sh

args=()
if [[ "${1:-}" == "--" ]]; then
    shift
    args=("$@")
fi

emulators_trap
emulators_install
emulators_start
export RUST_LOG="${RUST_LOG:-warn}"

# The function binaries the `binaries` figures start (as Lambda would run them).
case "${args[0]:-all}" in
binaries | all) cargo build --release --bin sync-api --bin sync-worker --bin post-login --bin sync-sweep ;;
esac

# In the background with the script waiting, so that Ctrl-C / TERM reach the trap at once.
cargo run --release -p stack --bin bench -- "${args[@]}" &
bench_pid=$!
zs_track "$bench_pid"
rc=0
wait "$bench_pid" || rc=$?
exit "$rc"
