#!/usr/bin/env bash
# Starts Stoplight Prism as a validating mock of Twilio's REST API (api v2010) for the carrier's
# contract test. Prism is installed with npm into .tools/prism (git-ignored) on first use.
#
#   scripts/prism.sh            # foreground; prints "PRISM_URL=http://127.0.0.1:PORT" once ready
#   scripts/prism.sh --install  # only install, then exit
#
# Env: PRISM_PORT (default: a free loopback port), PRISM_VERSION (default 5.16.0),
#      PRISM_READY_FILE (if set, the URL is also written there once Prism answers).
set -euo pipefail

root="$(git rev-parse --show-toplevel)"
tools="$root/.tools/prism"
version="${PRISM_VERSION:-5.16.0}"
spec="$root/../shared/reference/twilio-openapi/twilio_api_v2010.prism.json"
prism="$tools/node_modules/.bin/prism"

install_prism() {
    if [[ -x "$prism" ]]; then
        return
    fi
    mkdir -p "$tools"
    echo "installing @stoplight/prism-cli@$version into $tools" >&2
    # Prism declares node >=24 but runs on Node 20; scarf is install analytics.
    SCARF_ANALYTICS=false npm install --prefix "$tools" --no-save --no-audit --no-fund \
        --loglevel=error "@stoplight/prism-cli@$version" >&2
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
        || node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

install_prism
if [[ "${1:-}" == "--install" ]]; then
    exit 0
fi
if [[ ! -f "$spec" ]]; then
    echo "spec not found: $spec" >&2
    exit 1
fi

port="${PRISM_PORT:-$(free_port)}"
url="http://127.0.0.1:$port"
"$prism" mock --errors -h 127.0.0.1 -p "$port" "$spec" >&2 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT INT TERM

# Ready when any request gets an HTTP answer (401 without credentials is fine).
for _ in $(seq 1 120); do
    if curl -s -o /dev/null "$url/2010-04-01/Accounts.json"; then
        echo "PRISM_URL=$url"
        if [[ -n "${PRISM_READY_FILE:-}" ]]; then
            echo "$url" >"$PRISM_READY_FILE"
        fi
        wait "$pid"
        exit $?
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "prism exited before becoming ready" >&2
        exit 1
    fi
    sleep 0.5
done
echo "prism did not become ready in 60 s" >&2
exit 1
