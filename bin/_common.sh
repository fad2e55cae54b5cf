# Shared by bin/run and bin/test: a virtualenv that matches the pinned requirements, and Redis.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"

ensure_venv() {
    # bin/stand-in and bin/run started together on a fresh clone both get here: one builds the
    # virtualenv, the other waits for it instead of running a second pip into the same directory.
    mkdir -p "$ROOT/var"
    if command -v flock >/dev/null; then
        exec 9>"$ROOT/var/venv.lock"
        flock 9
    fi
    _venv_up_to_date "$1"
    if command -v flock >/dev/null; then
        exec 9>&-
    fi
}

_venv_up_to_date() {
    local requirements="$1" stamp
    # the file asked for and every requirements file, since one may include another
    stamp="$requirements $(cat "$ROOT"/requirements*.txt | sha256sum | cut -d' ' -f1)"
    if [[ ! -x "$VENV/bin/python" ]]; then
        "$PY" -m venv "$VENV"
    fi
    if [[ "$(cat "$VENV/.corral-stamp" 2>/dev/null)" != "$stamp" ]]; then
        echo "corral: installing $requirements into .venv" >&2
        "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/$requirements" \
            2> >(grep -v "^WARNING: Location" >&2)
        echo "$stamp" > "$VENV/.corral-stamp"
    fi
}

ensure_redis() {
    local url="${REDIS_URL:-redis://localhost:6379/0}"
    if "$VENV/bin/python" - "$url" <<'PY' 2>/dev/null; then return 0; fi
import sys, redis
redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1).ping()
PY
    if command -v redis-server >/dev/null; then
        echo "corral: starting redis-server on 127.0.0.1:6379" >&2
        mkdir -p "$ROOT/var"
        redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
            --dir "$ROOT/var" --logfile "$ROOT/var/redis.log"
        for _ in $(seq 50); do
            redis-cli -p 6379 ping >/dev/null 2>&1 && return 0
            sleep 0.1
        done
    fi
    echo "corral: Redis is not reachable at $url (install redis-server or set REDIS_URL)" >&2
    return 1
}
