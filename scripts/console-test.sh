#!/usr/bin/env bash
# The operator console's browser tests: starts the local stack (the console with its dev
# sign-in, the Zuora and Salesforce simulators, the worker) on free ports and runs
# tests/console with pytest, driving Debian's real Chromium through Playwright for Python (the
# system browser: Playwright downloads none). axe-core (npm) checks accessibility on each page.
# Screenshots of every page at 1280 and 390 px wide go to target/console-screenshots/.
#
# Installs what it needs: Debian's chromium (apt-get, as root or through sudo), playwright and
# pytest into .local/venv, axe-core into .local/npm. Uses the emulators exported by
# scripts/test.sh; run standalone it starts its own.
#
#   bash scripts/console-test.sh [-- extra pytest arguments]
# Env: ZS_RESULTS_FILE (written with "<passed> <failed>").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/emulators.sh
source scripts/emulators.sh

ZS_AXE_VERSION="${ZS_AXE_VERSION:-4.14.1}"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
extra_args=()
if [[ "${1:-}" == "--" ]]; then
    shift
    extra_args=("$@")
fi
work="$(mktemp -d "${TMPDIR:-/tmp}/zs-console.XXXXXX")"
passed=0
failed=0

zs_exit_hook() {
    local rc="$1"
    if ((rc != 0 && failed == 0)); then failed=1; fi
    if [[ -n "${ZS_RESULTS_FILE:-}" ]]; then echo "$passed $failed" >"$ZS_RESULTS_FILE"; fi
    rm -rf "$work"
}
emulators_trap

# Debian's Chromium and ChromeDriver (the machine has none until the project installs them).
chromium_install() {
    [[ -x "$CHROMIUM" ]] && return 0
    local sudo=()
    if ((EUID != 0)); then sudo=(sudo -n); fi
    zs_log "apt-get install chromium chromium-driver"
    mkdir -p "$ZS_LOGS"
    { "${sudo[@]}" apt-get update -q && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends \
        chromium chromium-driver; } >>"$ZS_LOGS/install.log" 2>&1 ||
        { tail -n 30 "$ZS_LOGS/install.log" >&2; return 1; }
    [[ -x "$CHROMIUM" ]]
}

console_tools_install() {
    chromium_install
    zs_pip_install "$ZS_VENV" playwright -r tests/console/requirements.txt
    if [[ ! -f "$ZS_LOCAL/npm/node_modules/axe-core/axe.min.js" ]]; then
        zs_log "npm install axe-core@$ZS_AXE_VERSION (into .local/npm)"
        mkdir -p "$ZS_LOCAL/npm"
        zs_retry 3 npm install --prefix "$ZS_LOCAL/npm" --no-audit --no-fund --loglevel=error \
            "axe-core@$ZS_AXE_VERSION" >>"$ZS_LOGS/install.log" 2>&1 ||
            { tail -n 30 "$ZS_LOGS/install.log" >&2; return 1; }
    fi
}

if emulators_running; then
    zs_log "using running emulators: DynamoDB $AWS_ENDPOINT_URL_DYNAMODB, SQS $AWS_ENDPOINT_URL_SQS"
else
    emulators_install
    emulators_start
fi
console_tools_install
export RUST_LOG="${RUST_LOG:-warn}"

zs_log "building local-stack and mint-token"
cargo build -q -p stack --bin local-stack --bin mint-token

# --- the local stack ----------------------------------------------------------------------------
api_port="$(free_port)"
sim_port="$(free_port)"
sf_port="$(free_port)"
stack_log="$ZS_LOGS/local-stack-console-$api_port.log"
: >"$stack_log"
stack_pid="$(API_PORT="$api_port" ZUORA_SIM_PORT="$sim_port" SALESFORCE_SIM_PORT="$sf_port" \
    zs_spawn "$stack_log" cargo run -q -p stack --bin local-stack)"
zs_track "$stack_pid"
api="http://127.0.0.1:$api_port"
zs_wait_ready "local stack ($api)" "$stack_pid" "$stack_log" 120 \
    zs_http_answers "$api/plugins/zuora/openapi.json"

ZS_ADMIN_TOKEN="$(cargo run -q -p stack --bin mint-token -- --sub console-tests --entities '*' --roles 'sync admin')"
export ZS_ADMIN_TOKEN CHROMIUM
export ZS_CONSOLE_URL="$api/console"
export ZS_API="$api"
export ZS_ZUORA_SIM="http://127.0.0.1:$sim_port"
export ZS_SALESFORCE_SIM="http://127.0.0.1:$sf_port"
export ZS_AXE_JS="$ZS_LOCAL/npm/node_modules/axe-core/axe.min.js"
export ZS_SCREENSHOTS="$PWD/target/console-screenshots"
rm -rf "$ZS_SCREENSHOTS"
mkdir -p "$ZS_SCREENSHOTS"

zs_log "pytest tests/console against $ZS_CONSOLE_URL (Chromium: $("$CHROMIUM" --version 2>/dev/null || echo '?'))"
rc=0
"$ZS_VENV/bin/python" -m pytest tests/console -q -p no:cacheprovider \
    --junitxml="$work/junit.xml" "${extra_args[@]}" || rc=$?
if [[ -f "$work/junit.xml" ]]; then
    read -r passed failed < <(python3 - "$work/junit.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
total = failed = 0
for case in root.iter("testcase"):
    total += 1
    if case.find("failure") is not None or case.find("error") is not None:
        failed += 1
print(total - failed, failed)
PY
    )
fi
zs_log "console tests: $passed passed, $failed failed (exit $rc); screenshots in $ZS_SCREENSHOTS"
exit "$rc"
