#!/usr/bin/env bash
# Runs the Twilio REST contract test against Prism in one go: starts scripts/prism.sh, waits
# until it answers, runs `cargo test -p palera-carrier --test suite twilio_contract::` with PRISM_URL set,
# and stops Prism. Extra arguments go to cargo test (e.g. `-- --nocapture`).
set -euo pipefail

root="$(git rev-parse --show-toplevel)"
ready="$(mktemp)"
rm -f "$ready"
PRISM_READY_FILE="$ready" "$root/scripts/prism.sh" >/dev/null &
prism_pid=$!
trap 'kill "$prism_pid" 2>/dev/null || true; wait "$prism_pid" 2>/dev/null || true; rm -f "$ready"' EXIT

for _ in $(seq 1 240); do
    [[ -s "$ready" ]] && break
    if ! kill -0 "$prism_pid" 2>/dev/null; then
        echo "prism failed to start" >&2
        exit 1
    fi
    sleep 0.5
done
if [[ ! -s "$ready" ]]; then
    echo "prism did not become ready" >&2
    exit 1
fi

PRISM_URL="$(cat "$ready")" cargo test -p palera-carrier --test suite twilio_contract:: "$@"
