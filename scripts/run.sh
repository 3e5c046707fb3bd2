#!/usr/bin/env bash
# `make run` after set-up, as the README's "What make run does" lists it:
#
#   egov init         when there is no ./egov.yml yet
#   egov ca init      the control plane's CA (idempotent: an existing CA is kept)
#   egov lab up       when root (idempotent: a lab that is up is left alone)
#   egov serve        in the background, on HTTPS with the CA's certificate,
#                     its address printed once it listens (and how to trust the CA)
#   egov bootstrap    offers the first administrator (on a terminal), then
#                     provisions, hardens, backs up, drills and scans a lab
#                     that never had it (steps already done are skipped)
#
# then waits on the console until Ctrl-C (or SIGTERM), which stops it. The
# logic lives in Python (controlplane/bootstrap); this only starts processes.
set -euo pipefail

ROOT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EGOV="$ROOT_DIR/.venv/bin/egov"
SERVE_LOG="$ROOT_DIR/var/serve.log"
SERVE_START_SECONDS=60
SERVE_PID=""
CONSOLE_URL=""

say() { printf '==> %s\n' "$*"; }

stop_console() {
    if [[ -n "$SERVE_PID" ]] && kill -0 "$SERVE_PID" 2>/dev/null; then
        kill -TERM "$SERVE_PID" 2>/dev/null || true
        wait "$SERVE_PID" 2>/dev/null || true
    fi
    SERVE_PID=""
}

# start_console: `egov serve` in the background, its output in var/serve.log;
# prints the address it reports ("console: URL") once it listens.
start_console() {
    mkdir -p "$(dirname "$SERVE_LOG")"
    : >"$SERVE_LOG"
    PYTHONUNBUFFERED=1 "$EGOV" serve >>"$SERVE_LOG" 2>&1 &
    SERVE_PID=$!
    local waited=0 address=""
    while ((waited < SERVE_START_SECONDS * 10)); do
        address=$(sed -n 's/^console: //p' "$SERVE_LOG" | head -n1)
        if [[ -n "$address" ]]; then
            CONSOLE_URL=$address
            say "the console is at $address (log: var/serve.log)"
            trust_hint
            return
        fi
        if ! kill -0 "$SERVE_PID" 2>/dev/null; then
            cat "$SERVE_LOG" >&2
            echo "error: egov serve stopped (above)" >&2
            exit 1
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    echo "error: egov serve did not listen within ${SERVE_START_SECONDS} s (var/serve.log)" >&2
    exit 1
}

# trust_hint: on HTTPS, how browsers and curl trust the control plane's CA.
trust_hint() {
    [[ "$CONSOLE_URL" == https://* ]] || return 0
    say "HTTPS with a certificate of the control plane's CA; to trust it:"
    say "  browsers: $EGOV ca export --out egov-root.crt, then import egov-root.crt as a certificate authority"
    say "  curl:     curl --cacert <($EGOV ca export) $CONSOLE_URL/login"
}

main() {
    cd "$ROOT_DIR"
    [[ -x "$EGOV" ]] || { echo "error: $EGOV missing: run make setup" >&2; exit 1; }
    trap stop_console EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    if [[ ! -f egov.yml ]]; then
        say "egov init (no ./egov.yml yet)"
        "$EGOV" init
    fi
    say "egov ca init (the control plane's CA; an existing one is kept)"
    "$EGOV" ca init
    if [[ $(id -u) -eq 0 ]]; then
        say "egov lab up"
        "$EGOV" lab up
    else
        say "not root: the lab (network namespaces) is not started"
    fi
    say "egov serve (console, API, scheduler and monitor) in the background"
    start_console
    say "egov bootstrap"
    if ! "$EGOV" bootstrap; then
        say "egov bootstrap did not finish (above); the console keeps running: fix the cause, then make run again"
    fi
    say "ready: the console at ${CONSOLE_URL} keeps running until Ctrl-C"
    trust_hint
    wait "$SERVE_PID"
}

main "$@"
