#!/usr/bin/env bash
# Starts the whole product locally: DynamoDB Local + moto (SQS, SES) on free ports, then the
# stack's `local-stack` binary (provisioning, the Zuora simulator with demo data, the Salesforce
# simulator the default entity pushes to, the sync API on localhost, the worker polling the
# queue; it prints how to call the API). Ctrl-C stops all.
#
#   bash scripts/dev.sh [-- extra arguments for local-stack]
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
export RUST_LOG="${RUST_LOG:-info}"

# Not exec'd: the trap must stop the emulators when local-stack ends. It runs in the background
# and the script waits for it, so that Ctrl-C and TERM reach the trap at once (which then stops
# local-stack, its children and the emulators).
cargo run -p stack --bin local-stack -- "${args[@]}" &
stack_pid=$!
zs_track "$stack_pid"
rc=0
wait "$stack_pid" || rc=$?
exit "$rc"
