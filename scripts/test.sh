#!/usr/bin/env bash
# The test command: installs what it needs (DynamoDB Local, moto, cargo-lambda, schemathesis, all
# under .local/), starts the emulators, runs the workspace tests against them, then schemathesis
# against the local stack's HTTP API (scripts/schemathesis.sh: every operation of the served
# OpenAPI document), the operator console's browser tests (scripts/console-test.sh: Debian's
# Chromium through Playwright) and the Lambda runtime test (each function binary handling its events/
# sample through the real Lambda runtime API).
#
#   bash scripts/test.sh                               # everything
#   ZS_SKIP_RUNTIME_TEST=1 ZS_SKIP_SCHEMATHESIS=1 ZS_SKIP_FAULTS=1 bash scripts/test.sh   # only the workspace tests
#   bash scripts/test.sh -- -E 'test(lock)'            # extra arguments for nextest / cargo test
# shellcheck disable=SC2329 # functions run through step / the exit trap
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/emulators.sh
source scripts/emulators.sh

extra_args=()
if [[ "${1:-}" == "--" ]]; then
    shift
    extra_args=("$@")
fi

summary=()
failed=0
started=$SECONDS
passed_total=0
failed_total=0
work="$(mktemp -d "${TMPDIR:-/tmp}/zs-test.XXXXXX")"

# Printed last, after every process was stopped.
zs_exit_hook() {
    local rc="$1" line
    echo
    echo "== test summary ($((SECONDS - started))s)"
    for line in "${summary[@]}"; do echo "  $line"; done
    if ((rc != 0 || failed)); then echo "  RESULT: FAILED"; else echo "  RESULT: ok"; fi
    # One plain closing line for whoever reads the log.
    echo "tests: $passed_total passed, $failed_total failed"
    rm -rf "$work"
}
emulators_trap

# step NAME CMD...: run a step, record its outcome and duration; a failure does not stop the run.
step() {
    local name="$1" t0=$SECONDS rc=0
    shift
    zs_log "== $name"
    "$@" || rc=$?
    if ((rc == 0)); then
        summary+=("ok      $name ($((SECONDS - t0))s)")
    else
        summary+=("FAILED  $name (exit $rc, $((SECONDS - t0))s)")
        failed=1
    fi
}

install_all() {
    bash -c 'set -euo pipefail
        source scripts/emulators.sh
        emulators_install
        cargo_lambda_install
        schemathesis_install'
    # Chromium (apt), Playwright and axe-core: scripts/console-test.sh installs them itself.
}
step "install emulators and tools" install_all
((failed == 0)) || exit 1
zs_venv_ensure # .local/venv/bin (cargo-lambda, moto) on PATH

if emulators_start; then
    summary+=("ok      emulators up: DynamoDB Local $AWS_ENDPOINT_URL_DYNAMODB, moto $AWS_ENDPOINT_URL_SQS")
else
    summary+=("FAILED  emulators did not start (logs in .local/logs/)")
    exit 1
fi

# Counts from the runner's own summary lines (nextest: "N tests run: A passed, B failed, ...";
# cargo test: one "test result: ... A passed; B failed; ..." per test binary).
count_from_log() {
    local log="$1" p f
    p="$(grep -aE 'tests? run: ' "$log" | tail -n 1 | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || true)"
    f="$(grep -aE 'tests? run: ' "$log" | tail -n 1 | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+' || true)"
    if [[ -z "$p" ]]; then
        p="$(grep -aoE 'test result: .* [0-9]+ passed' "$log" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' | paste -sd+ | bc 2>/dev/null || true)"
        f="$(grep -aoE 'test result: .* [0-9]+ failed' "$log" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+' | paste -sd+ | bc 2>/dev/null || true)"
    fi
    passed_total=$((passed_total + ${p:-0}))
    failed_total=$((failed_total + ${f:-0}))
}

run_workspace_tests() {
    local rc=0
    if command -v cargo-nextest >/dev/null 2>&1; then
        cargo nextest run --workspace --no-fail-fast --no-tests=warn "${extra_args[@]}" 2>&1 |
            tee "$work/workspace-tests.log" || rc=$?
    else
        cargo test --workspace --no-fail-fast "${extra_args[@]}" 2>&1 |
            tee "$work/workspace-tests.log" || rc=$?
    fi
    count_from_log "$work/workspace-tests.log"
    if ((rc != 0 && failed_total == 0)); then failed_total=$((failed_total + 1)); fi
    return "$rc"
}
# Every test process records the AWS operations each function performs (tests/stack/src/aws_ops.rs);
# the last step compares them with the functions' roles in template.yaml.
export ZS_AWS_OPS_DIR="$PWD/target/aws-ops"
rm -rf "$ZS_AWS_OPS_DIR"
runner="cargo test"
command -v cargo-nextest >/dev/null 2>&1 && runner="cargo nextest"
step "workspace tests ($runner)" run_workspace_tests

# The fault-injection suite (tests/stack/tests/it/faults.rs) stops and kills processes and
# slows DynamoDB Local down, so it runs alone, one scenario at a time, after everything else
# that shares the emulators. It signals DynamoDB Local's process group.
run_fault_suite() {
    local rc=0
    if command -v cargo-nextest >/dev/null 2>&1; then
        ZS_DYNAMODB_PID="$ZS_DYNAMODB_PID" cargo nextest run -p stack --test it --no-fail-fast \
            --run-ignored only --test-threads 1 -E 'test(/^faults::/)' 2>&1 |
            tee "$work/fault-tests.log" || rc=$?
    else
        ZS_DYNAMODB_PID="$ZS_DYNAMODB_PID" cargo test -p stack --test it --no-fail-fast -- \
            --ignored --test-threads 1 faults:: 2>&1 | tee "$work/fault-tests.log" || rc=$?
    fi
    count_from_log "$work/fault-tests.log"
    if ((rc != 0 && failed_total == 0)); then failed_total=$((failed_total + 1)); fi
    return "$rc"
}
if [[ "${ZS_SKIP_FAULTS:-0}" != 1 ]]; then
    step "fault injection against the emulators (alone, one at a time)" run_fault_suite
fi

run_runtime_test() {
    local rc=0
    # The child sees the exported emulator env and reuses these emulators.
    ZS_RESULTS_FILE="$work/runtime-results" bash scripts/lambda-runtime-test.sh || rc=$?
    local p=0 f=0
    if [[ -f "$work/runtime-results" ]]; then
        read -r p f <"$work/runtime-results" || true
    fi
    if ((rc != 0 && f == 0)); then f=1; fi
    passed_total=$((passed_total + p))
    failed_total=$((failed_total + f))
    return "$rc"
}
run_schemathesis() {
    local rc=0 p=0 f=0
    ZS_RESULTS_FILE="$work/schemathesis-results" bash scripts/schemathesis.sh || rc=$?
    if [[ -f "$work/schemathesis-results" ]]; then
        read -r p f <"$work/schemathesis-results" || true
    fi
    if ((rc != 0 && f == 0)); then f=1; fi
    passed_total=$((passed_total + p))
    failed_total=$((failed_total + f))
    return "$rc"
}
if [[ "${ZS_SKIP_SCHEMATHESIS:-0}" != 1 ]]; then
    step "schemathesis (every operation of the served OpenAPI document, deterministic)" run_schemathesis
fi

run_console_tests() {
    local rc=0 p=0 f=0
    ZS_RESULTS_FILE="$work/console-results" bash scripts/console-test.sh || rc=$?
    if [[ -f "$work/console-results" ]]; then
        read -r p f <"$work/console-results" || true
    fi
    if ((rc != 0 && f == 0)); then f=1; fi
    passed_total=$((passed_total + p))
    failed_total=$((failed_total + f))
    return "$rc"
}
if [[ "${ZS_SKIP_CONSOLE:-0}" != 1 ]]; then
    step "operator console in Chromium (Playwright, axe-core; screenshots in target/console-screenshots)" run_console_tests
fi

if [[ "${ZS_SKIP_RUNTIME_TEST:-0}" != 1 ]]; then
    step "lambda runtime test (cargo lambda watch + invoke)" run_runtime_test
fi

# Only a whole run has exercised every path of every function.
check_permissions() {
    cargo run -q -p stack --bin check-permissions -- "$ZS_AWS_OPS_DIR" template.yaml
}
if ((${#extra_args[@]} == 0)) && [[ "${ZS_SKIP_FAULTS:-0}${ZS_SKIP_SCHEMATHESIS:-0}" == 00 ]]; then
    step "permissions: each function's role in template.yaml = the AWS operations it performed" check_permissions
else
    summary+=("skipped permissions check (it needs the whole run: no filter, faults and schemathesis)")
fi

exit "$failed"
