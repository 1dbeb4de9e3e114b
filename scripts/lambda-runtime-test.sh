#!/usr/bin/env bash
# Proves that each function binary handles its events/ sample through the REAL Lambda runtime
# API: `cargo lambda watch` runs the binaries as Lambda would (runtime API, env), and
# `cargo lambda invoke` sends the sample events.
#
# Uses the emulators exported by scripts/test.sh; run standalone it starts its own. It sets up its
# own preconditions: uniquely prefixed tables and queues (stack's `provision`), the Zuora
# simulator, and a freshly minted HS256 token.
#
#   bash scripts/lambda-runtime-test.sh
# Env knobs: ZS_BUILD_TIMEOUT (s, default 1800) for the builds, ZS_INVOKE_TIMEOUT (s, default
# 600) per invoke, ZS_RESULTS_FILE (written with "<passed> <failed>").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/emulators.sh
source scripts/emulators.sh

BUILD_TIMEOUT="${ZS_BUILD_TIMEOUT:-1800}"
INVOKE_TIMEOUT="${ZS_INVOKE_TIMEOUT:-600}"
work="$(mktemp -d "${TMPDIR:-/tmp}/zs-rt.XXXXXX")"
passed=0
failed=0
# Eleven sync-api samples, one for sync-worker, two for post-login (Cognito, the hook route),
# one for sync-sweep.
EXPECTED_CHECKS=15

zs_exit_hook() {
    local rc="$1"
    if ((rc != 0 && failed == 0 && passed < EXPECTED_CHECKS)); then failed=$((EXPECTED_CHECKS - passed)); fi
    if [[ -n "${ZS_RESULTS_FILE:-}" ]]; then echo "$passed $failed" >"$ZS_RESULTS_FILE"; fi
    echo "lambda-runtime: $passed passed, $failed failed"
    rm -rf "$work"
}
emulators_trap

die() {
    zs_log "FAILED: $*"
    exit 1
}

# wait_for_line PID LOG REGEX TIMEOUT: wait until LOG has a line matching REGEX (printed), fail
# if PID exits first or TIMEOUT seconds pass.
wait_for_line() {
    local pid="$1" log="$2" re="$3" timeout="$4" start=$SECONDS line
    while :; do
        line="$(grep -aoE "$re" "$log" | head -n 1 || true)"
        if [[ -n "$line" ]]; then
            echo "$line"
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            zs_log "process exited before printing /$re/; last lines of $log:"
            tail -n 40 "$log" >&2
            return 1
        fi
        if ((SECONDS - start >= timeout)); then
            zs_log "no /$re/ after ${timeout}s; last lines of $log:"
            tail -n 40 "$log" >&2
            return 1
        fi
        sleep 0.5
    done
}

# --- emulators and tools ------------------------------------------------------------------------
if emulators_running; then
    zs_log "using running emulators: DynamoDB $AWS_ENDPOINT_URL_DYNAMODB, SQS $AWS_ENDPOINT_URL_SQS"
else
    emulators_install
    emulators_start
fi
cargo_lambda_install
zs_venv_ensure
export RUST_LOG="${RUST_LOG:-info}"

# --- build what runs below (clear compile errors, and the invokes then start at once) ----------
zs_log "building provision, mint-token, zuora-sim and the four functions"
timeout "$BUILD_TIMEOUT" cargo build -q -p stack --bin provision --bin mint-token ||
    die "could not build the stack's provision / mint-token binaries"
timeout "$BUILD_TIMEOUT" cargo build -q -p zuora-sim --bin zuora-sim ||
    die "could not build zuora-sim"
# The same selection `cargo lambda watch` uses (`cargo run --bin NAME`), so that build is fresh.
timeout "$BUILD_TIMEOUT" cargo build -q --bin sync-api --bin sync-worker --bin post-login --bin sync-sweep ||
    die "could not build the function binaries"

# --- tables and queues --------------------------------------------------------------------------
prefix="rt-$(python3 -c 'import secrets; print(secrets.token_hex(4))')"
provision_out="$(cargo run -q -p stack --bin provision -- --prefix "$prefix")" ||
    die "provision --prefix $prefix failed"
while IFS= read -r line; do
    [[ -z "$line" ]] && continue
    [[ "$line" =~ ^export\ [A-Z_][A-Z0-9_]*= ]] || die "unexpected provision output line: $line"
done <<<"$provision_out"
eval "$provision_out"
for v in MIRROR_TABLE LOCKS_TABLE EVENTS_TABLE STATE_TABLE SYNC_QUEUE_URL SYNC_DLQ_URL; do
    [[ -n "${!v:-}" ]] || die "provision did not export $v"
done
zs_log "provisioned: $MIRROR_TABLE $LOCKS_TABLE $EVENTS_TABLE $SYNC_QUEUE_URL"

# --- Zuora simulator ----------------------------------------------------------------------------
sim_port="$(free_port)"
sim_log="$ZS_LOGS/zuora-sim-$sim_port.log"
: >"$sim_log"
sim_pid="$(zs_spawn "$sim_log" cargo run -q -p zuora-sim --bin zuora-sim -- --port "$sim_port")"
zs_track "$sim_pid"
sim_line="$(wait_for_line "$sim_pid" "$sim_log" 'zuora-sim listening on http://[^ ]+' 120)" ||
    die "zuora-sim did not start"
export ZUORA_BASE_URL="${sim_line##* }"
export ZUORA_CLIENT_ID=sim-client
export ZUORA_CLIENT_SECRET=sim-secret
export ZUORA_ENTITY_ID="${ZUORA_ENTITY_ID:-default}"
# The callout sample's Basic credentials (local test values).
export CALLOUT_BASIC_USER=zuora-callouts
export CALLOUT_BASIC_PASSWORD=callout-password-for-tests
zs_log "zuora-sim: $ZUORA_BASE_URL"

# --- token and event ----------------------------------------------------------------------------
export JWT_HS256_SECRET=local-dev-secret-change-me
export JWT_ISSUER=http://localhost/zuora-sync
export JWT_AUDIENCE=zuora-sync
unset JWT_JWKS_URL
token="$(cargo run -q -p stack --bin mint-token -- --sub rt-test)" || die "mint-token failed"
token="$(printf '%s' "$token" | tr -d '[:space:]')"
[[ "$token" =~ ^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$ ]] || die "mint-token printed no JWT"

# with_token SAMPLE: a copy of an events/ sample carrying the fresh token; prints its path.
with_token() {
    local out
    out="$work/$(basename "$1")"
    python3 - "$1" "$out" "$token" <<'EOF'
import json, sys
src, dst, token = sys.argv[1:4]
with open(src) as f:
    event = json.load(f)
# Samples for bearer routes carry a placeholder token; others (the callout) their own.
if event["headers"].get("authorization", "").startswith("Bearer "):
    event["headers"]["authorization"] = "Bearer " + token
with open(dst, "w") as f:
    json.dump(event, f, indent=2)
EOF
    echo "$out"
}

# --- the Lambda runtime emulator ----------------------------------------------------------------
watch_port="$(free_port)"
watch_log="$ZS_LOGS/cargo-lambda-watch-$watch_port.log"
: >"$watch_log"
# The functions inherit this environment (cargo lambda watch passes its own env on to them).
# RUST_LOG reaches them through --env-file, so that cargo-lambda itself (which reads RUST_LOG
# too) stays quiet and the log holds mostly the functions' own lines.
printf 'RUST_LOG=%s\n' "$RUST_LOG" >"$work/functions.env"
watch_pid="$(RUST_LOG=warn zs_spawn "$watch_log" cargo lambda watch --ignore-changes \
    --invoke-address 127.0.0.1 --invoke-port "$watch_port" --env-file "$work/functions.env")"
zs_track "$watch_pid"
zs_wait_ready "cargo lambda watch (:$watch_port)" "$watch_pid" "$watch_log" 60 \
    zs_tcp_open 127.0.0.1 "$watch_port" || die "cargo lambda watch did not start"

# invoke FUNCTION EVENT_FILE OUT_FILE: one invocation through the emulator. Fails fast when the
# function process dies (cargo lambda invoke would otherwise wait for an answer that never comes).
invoke() {
    local fn="$1" event="$2" out="$3" t0=$SECONDS rc=0 log_from
    log_from=$(($(stat -c %s "$watch_log") + 1))
    zs_log "cargo lambda invoke $fn --data-file ${event#"$ZS_ROOT"/}"
    timeout "$INVOKE_TIMEOUT" cargo lambda invoke "$fn" --data-file "$event" \
        --invoke-address 127.0.0.1 --invoke-port "$watch_port" --output-format json \
        >"$out" 2>"$out.err" &
    local invoke_pid=$!
    while kill -0 "$invoke_pid" 2>/dev/null; do
        if tail -c "+$log_from" "$watch_log" | grep -qE 'ERROR command (exited|killed|stopped|ended)'; then
            sleep 1 # a last chance, should the answer be on its way
            if kill -0 "$invoke_pid" 2>/dev/null; then
                kill "$invoke_pid" 2>/dev/null || true
                wait "$invoke_pid" 2>/dev/null || true
                zs_log "the $fn process exited without answering the invocation"
                return 1
            fi
        fi
        sleep 0.2
    done
    wait "$invoke_pid" || rc=$?
    zs_log "$fn answered in $((SECONDS - t0))s (exit $rc)"
    if ((rc != 0)); then
        zs_log "invoke of $fn failed (exit $rc$( ((rc == 124)) && echo ", no answer within ${INVOKE_TIMEOUT}s")):"
        cat "$out" "$out.err" >&2
        return 1
    fi
}

check() { # check NAME CMD...: one assertion, counted
    local name="$1"
    shift
    if "$@"; then
        passed=$((passed + 1))
        zs_log "ok: $name"
    else
        failed=$((failed + 1))
        zs_log "FAILED: $name"
        zs_log "last lines of the function log (${watch_log#"$ZS_ROOT"/}):"
        tail -n 40 "$watch_log" >&2
    fi
}

# api_ok SAMPLE STATUS [BODY_KEY]: sync-api answers SAMPLE with STATUS, a JSON body and, when
# given, a non-empty BODY_KEY in it.
api_ok() {
    local sample="$1" status="$2" key="${3:-}" event name
    name="$(basename "$sample" .json)"
    event="$(with_token "$sample")"
    invoke sync-api "$event" "$work/$name.out" || return 1
    python3 - "$work/$name.out" "$status" "$key" <<'EOF'
import base64, json, sys
raw, status, key = open(sys.argv[1]).read(), int(sys.argv[2]), sys.argv[3]
try:
    resp = json.loads(raw)
except ValueError:
    sys.exit(f"sync-api: the invoke output is not JSON: {raw[:2000]}")
print(f"sync-api response: {json.dumps(resp)[:600]}", file=sys.stderr)
if resp.get("statusCode") != status:
    sys.exit(f"sync-api: expected statusCode {status}, got {resp.get('statusCode')!r}")
body = resp.get("body") or ""
if resp.get("isBase64Encoded"):
    body = base64.b64decode(body).decode()
try:
    parsed = json.loads(body)
except ValueError:
    sys.exit(f"sync-api: the body is not JSON: {body[:2000]}")
if key and not parsed.get(key):
    sys.exit(f"sync-api: the body has no {key!r}: {parsed!r}")
EOF
}

post_login_ok() {
    invoke post-login events/post-login-cognito.json "$work/post-login.out" || return 1
    python3 - events/post-login-cognito.json "$work/post-login.out" <<'EOF'
import json, sys
sent = json.load(open(sys.argv[1]))
raw = open(sys.argv[2]).read()
try:
    got = json.loads(raw)
except ValueError:
    sys.exit(f"post-login: the invoke output is not JSON: {raw[:2000]}")
if got != sent:
    sys.exit(f"post-login: Cognito must get its event back unchanged, got {json.dumps(got)[:2000]}")
EOF
}

# The hook route through post-login's router: the sample's placeholder is no JWT, so 401.
post_login_hook_ok() {
    invoke post-login events/post-login-hook.json "$work/post-login-hook.out" || return 1
    python3 - "$work/post-login-hook.out" <<'EOF'
import json, sys
raw = open(sys.argv[1]).read()
try:
    resp = json.loads(raw)
except ValueError:
    sys.exit(f"post-login: the invoke output is not JSON: {raw[:2000]}")
print(f"post-login response: {json.dumps(resp)[:600]}", file=sys.stderr)
if resp.get("statusCode") != 401:
    sys.exit(f"post-login: expected statusCode 401, got {resp.get('statusCode')!r}")
if json.loads(resp.get("body") or "{}").get("code") != "unauthorized":
    sys.exit(f"post-login: expected code unauthorized, got {resp.get('body')!r}")
EOF
}

sweep_ok() {
    invoke sync-sweep events/sync-sweep-schedule.json "$work/sweep.out" || return 1
    python3 - "$work/sweep.out" <<'EOF'
import json, sys
raw = open(sys.argv[1]).read()
try:
    got = json.loads(raw)
except ValueError:
    sys.exit(f"sync-sweep: the invoke output is not JSON: {raw[:2000]}")
print(f"sync-sweep response: {json.dumps(got)[:600]}", file=sys.stderr)
entities = got.get("entities") or []
if not entities or any("error" in e for e in entities):
    sys.exit(f"sync-sweep: expected a report per entity without errors, got {got!r}")
EOF
}

worker_ok() {
    invoke sync-worker events/sync-worker-sqs.json "$work/worker.out" || return 1
    python3 - "$work/worker.out" <<'EOF'
import json, sys
raw = open(sys.argv[1]).read()
try:
    resp = json.loads(raw)
except ValueError:
    sys.exit(f"sync-worker: the invoke output is not JSON: {raw[:2000]}")
print(f"sync-worker response: {json.dumps(resp)[:2000]}", file=sys.stderr)
if resp != {"batchItemFailures": []}:
    sys.exit(f'sync-worker: expected {{"batchItemFailures":[]}}, got {resp!r}')
EOF
}

# Every sync-api sample, in an order where each finds what it needs (the subscription sync
# creates the customer the later samples name).
while read -r sample status key; do
    check "sync-api handles events/$sample ($status${key:+, $key})" api_ok "events/$sample" "$status" "$key"
done <<'SAMPLES'
sync-api-subscription.json 200 owner
sync-api-accounts.json 202 accounts
sync-api-customer.json 200 subscriptions
sync-api-catalog.json 202 event_id
sync-api-events-search.json 200 events
sync-api-event.json 404 message
sync-api-settings-get.json 200 settings
sync-api-settings-patch.json 200 version
sync-api-openapi.json 200 openapi
sync-api-status.json 200 message
sync-api-callout.json 200 success
SAMPLES
check "sync-worker handles events/sync-worker-sqs.json (no batch item failures)" worker_ok
check "post-login returns events/post-login-cognito.json unchanged" post_login_ok
check "post-login answers events/post-login-hook.json through the router (401)" post_login_hook_ok
check "sync-sweep handles events/sync-sweep-schedule.json" sweep_ok

((failed == 0))
