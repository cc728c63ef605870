#!/usr/bin/env bash
# Starts moto in server mode as an S3-compatible object store on loopback for the recording
# storage tests. moto comes from PyPI (`pip install 'moto[server]'`) on first use.
#
#   scripts/s3.sh            # foreground; prints "PALERA_S3_URL=http://127.0.0.1:PORT" once ready
#   scripts/s3.sh --install  # only install, then exit
#
# Env: S3_PORT (default: a free loopback port), S3_READY_FILE (if set, the URL is also written
# there once the server answers).
set -euo pipefail

install_moto() {
    if command -v moto_server >/dev/null; then
        return
    fi
    echo "installing moto[server] with pip" >&2
    python3 -m pip install --quiet 'moto[server]' >&2
    hash -r
}

install_moto
if [[ "${1:-}" == "--install" ]]; then
    exit 0
fi

port="${S3_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}"
url="http://127.0.0.1:$port"
moto_server -H 127.0.0.1 -p "$port" >&2 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT INT TERM

for _ in $(seq 1 120); do
    if curl -s -o /dev/null "$url/"; then
        echo "PALERA_S3_URL=$url"
        if [[ -n "${S3_READY_FILE:-}" ]]; then
            echo "$url" >"$S3_READY_FILE"
        fi
        wait "$pid"
        exit $?
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "moto_server exited before becoming ready" >&2
        exit 1
    fi
    sleep 0.5
done
echo "moto_server did not answer at $url" >&2
exit 1
