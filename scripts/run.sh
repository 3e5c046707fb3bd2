#!/usr/bin/env bash
# `make run` after set-up: initialise when nothing is (no ./egov.yml), bring the
# lab up when root, print the address and hand the process over to `egov serve`.
set -euo pipefail

ROOT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EGOV="$ROOT_DIR/.venv/bin/egov"
DEFAULT_ADDRESS=http://127.0.0.1:8080

say() { printf '==> %s\n' "$*"; }

# serve_address: the URL `egov serve` answers on, from egov.yml's listen block.
serve_address() {
    "$ROOT_DIR/.venv/bin/python" - "$DEFAULT_ADDRESS" <<'PY' 2>/dev/null || echo "$DEFAULT_ADDRESS"
import sys

from controlplane.config import load_config

config = load_config()
if config.public_url:
    print(config.public_url)
    sys.exit(0)
host = config.listen_host
# A wildcard address is reachable from this machine on loopback.
host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
if ":" in host:
    host = f"[{host}]"
scheme = "https" if config.tls_cert else "http"
print(f"{scheme}://{host}:{config.listen_port}")
PY
}

main() {
    cd "$ROOT_DIR"
    [[ -x "$EGOV" ]] || { echo "error: $EGOV missing: run make setup" >&2; exit 1; }
    if [[ ! -f egov.yml ]]; then
        say "egov init (no ./egov.yml yet)"
        "$EGOV" init
    fi
    if [[ $(id -u) -eq 0 ]]; then
        say "egov lab up"
        "$EGOV" lab up
    else
        say "not root: the lab (network namespaces) is not started"
    fi
    if [[ "$("$EGOV" users list --json 2>/dev/null)" == "[]" ]]; then
        say "no console user yet: create the first administrator (password from a prompt, TOTP at first login) with"
        say "    $EGOV users add admin --role admin"
    fi
    say "egov serve: the console is at $(serve_address)"
    exec "$EGOV" serve
}

main "$@"
