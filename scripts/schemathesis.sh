#!/usr/bin/env bash
# Fuzzes the HTTP API against its own OpenAPI document with schemathesis: starts the local stack
# (`local-stack`: the Zuora simulator with demo data, every HTTP route, the worker) on free ports,
# mints a token with both roles for every entity, and runs schemathesis on every operation of
# the served document (`GET /plugins/zuora/openapi.json`), bounded (examples per operation) and
# deterministic (schemathesis's deterministic generation; runs with one plain `--seed` still
# differed slightly from each other). Checks and their few exceptions: scripts/schemathesis.toml.
#
# Uses the emulators exported by scripts/test.sh; run standalone it starts its own.
#
#   bash scripts/schemathesis.sh [-- extra arguments for `st run`]
# Env knobs: ZS_ST_MAX_EXAMPLES (default 50) per operation and phase; ZS_ST_PHASES (default
# examples,coverage,fuzzing); ZS_ST_SEED (a seeded random run instead, to explore);
# ZS_RESULTS_FILE (written with "<passed> <failed>" operations; a failed stateful phase counts
# as one failure).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/emulators.sh
source scripts/emulators.sh

MAX_EXAMPLES="${ZS_ST_MAX_EXAMPLES:-50}"
# Not the stateful phase: its scenarios follow links through the answers (which carry fresh
# event ids), and their number differed between runs. ZS_ST_PHASES=examples,coverage,fuzzing,
# stateful (one word) runs it too.
PHASES="${ZS_ST_PHASES:-examples,coverage,fuzzing}"
generation=(--generation-deterministic)
if [[ -n "${ZS_ST_SEED:-}" ]]; then generation=(--seed "$ZS_ST_SEED"); fi
extra_args=()
if [[ "${1:-}" == "--" ]]; then
    shift
    extra_args=("$@")
fi
work="$(mktemp -d "${TMPDIR:-/tmp}/zs-st.XXXXXX")"
operations=0
failed_ops=0

zs_exit_hook() {
    local rc="$1"
    if ((rc != 0 && failed_ops == 0)); then failed_ops=1; fi
    if [[ -n "${ZS_RESULTS_FILE:-}" ]]; then
        echo "$((operations - failed_ops < 0 ? 0 : operations - failed_ops)) $failed_ops" >"$ZS_RESULTS_FILE"
    fi
    rm -rf "$work"
}
emulators_trap

if emulators_running; then
    zs_log "using running emulators: DynamoDB $AWS_ENDPOINT_URL_DYNAMODB, SQS $AWS_ENDPOINT_URL_SQS"
else
    emulators_install
    emulators_start
fi
schemathesis_install
export RUST_LOG="${RUST_LOG:-warn}"

zs_log "building local-stack and mint-token"
cargo build -q -p stack --bin local-stack --bin mint-token

# --- the local stack ----------------------------------------------------------------------------
api_port="$(free_port)"
sim_port="$(free_port)"
stack_log="$ZS_LOGS/local-stack-$api_port.log"
: >"$stack_log"
stack_pid="$(API_PORT="$api_port" ZUORA_SIM_PORT="$sim_port" zs_spawn "$stack_log" \
    cargo run -q -p stack --bin local-stack)"
zs_track "$stack_pid"
api="http://127.0.0.1:$api_port"
zs_wait_ready "local stack ($api)" "$stack_pid" "$stack_log" 120 \
    zs_http_answers "$api/plugins/zuora/openapi.json"

# Both roles for every entity (mint-token's defaults), under the local stack's dev secret.
ZS_ST_TOKEN="$(cargo run -q -p stack --bin mint-token -- --sub schemathesis --entities '*' --roles 'sync admin')"
export ZS_ST_TOKEN

# --- schemathesis -------------------------------------------------------------------------------
# The served document, saved first: given its URL, schemathesis leaves out the operation that
# serves it, and every operation is to be tested.
python3 -c 'import sys, urllib.request
open(sys.argv[2], "wb").write(urllib.request.urlopen(sys.argv[1], timeout=10).read())' \
    "$api/plugins/zuora/openapi.json" "$work/openapi.json"
zs_log "schemathesis: every operation of $api/plugins/zuora/openapi.json, phases $PHASES, ${generation[*]}, max examples $MAX_EXAMPLES"
rc=0
"$ZS_VENV/bin/st" --config-file scripts/schemathesis.toml run "$work/openapi.json" \
    --url "$api" \
    --phases "$PHASES" \
    --max-examples "$MAX_EXAMPLES" \
    "${generation[@]}" \
    --workers 1 \
    --report junit --report-junit-path "$work/junit.xml" \
    "${extra_args[@]}" || rc=$?

if [[ -f "$work/junit.xml" ]]; then
    read -r operations failed_ops < <(python3 - "$work/junit.xml" <<'EOF'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
cases = root.iter("testcase")
total = failed = 0
for case in cases:
    if case.get("name", "").startswith("Stateful"):
        continue
    total += 1
    if case.find("failure") is not None or case.find("error") is not None:
        failed += 1
print(total, failed)
EOF
    )
fi
zs_log "schemathesis: $operations operations, $failed_ops failed (exit $rc)"
exit "$rc"
