# Shared shell helpers for scripts/test, scripts/demo and .ci/run. Source it; don't run it.

CERVELLA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }

# Installs the Debian packages the build and the tests need, when any is missing.
ensure_system_packages() {
    # tzdata: tier windows read IANA time zones (Europe/Rome) from /usr/share/zoneinfo.
    local wanted=(libhiredis-dev libcurl4-openssl-dev redis-server redis-tools pkg-config python3-venv curl tzdata)
    local missing=()
    for package in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    if ((${#missing[@]})); then
        log "installing Debian packages: ${missing[*]}"
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    command -v swift >/dev/null || { echo "swift is not on PATH; install Swift 6 (https://www.swift.org/install/linux/) first" >&2; exit 1; }
}

# Packages only the test suite needs: a real Prometheus server that scrapes the pool.
ensure_test_packages() {
    if ! command -v prometheus >/dev/null; then
        log "installing Debian package: prometheus (the metrics test scrapes a real server)"
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        # Without systemd the package's service start fails harmlessly; the tests run their own.
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq prometheus >/dev/null || command -v prometheus >/dev/null
    fi
}

# Scenario e of scripts/chaos runs three Sentinels: Debian's redis-sentinel.
ensure_sentinel_package() {
    command -v redis-sentinel >/dev/null && return
    log "installing Debian package: redis-sentinel (the chaos suite's failover scenario)"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    # Without systemd the package's service start fails harmlessly; the suite runs its own.
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-sentinel >/dev/null || command -v redis-sentinel >/dev/null \
        || { echo "could not install redis-sentinel" >&2; exit 1; }
}

# What scripts/check-ops needs: promtool (Debian's prometheus), amtool
# (prometheus-alertmanager) and nginx (nginx-light). Their services are not started.
ensure_ops_packages() {
    local missing=()
    command -v promtool >/dev/null || missing+=(prometheus)
    command -v amtool >/dev/null || missing+=(prometheus-alertmanager)
    command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
    if ((${#missing[@]})); then
        log "installing Debian packages: ${missing[*]}"
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        # Without systemd the packages' service starts fail harmlessly; nothing here runs them.
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null || true
        command -v promtool >/dev/null && command -v amtool >/dev/null && { command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; } \
            || { echo "could not install ${missing[*]}" >&2; exit 1; }
    fi
    export PATH="$PATH:/usr/sbin"
}

# A Python with the `redis`, `openai`, `anthropic` and `pyyaml` packages, in a private virtual environment (.venv-cervella).
ensure_python_redis() {
    local venv="$CERVELLA_ROOT/.venv-cervella"
    if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import redis, openai, anthropic, yaml' 2>/dev/null; then
        log "creating $venv with the redis, openai and anthropic packages" >&2
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q --disable-pip-version-check 'redis>=5,<7' 'openai>=1.40,<3' 'anthropic>=0.40,<1' 'pyyaml>=6,<7' >&2
    fi
    echo "$venv/bin/python"
}

# Prints a TCP port that is free on loopback right now.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Starts a private redis-server on a free loopback port; sets REDIS_TEST_PORT and REDIS_TEST_PID.
start_redis() {
    local dir="$1"
    REDIS_TEST_PORT="$(free_port)"
    mkdir -p "$dir"
    redis-server --port "$REDIS_TEST_PORT" --bind 127.0.0.1 --save "" --appendonly no \
        --dir "$dir" --daemonize no --loglevel warning >"$dir/redis.log" 2>&1 &
    REDIS_TEST_PID=$!
    for _ in $(seq 1 100); do
        redis-cli -p "$REDIS_TEST_PORT" ping 2>/dev/null | grep -q PONG && return 0
        sleep 0.05
    done
    echo "redis-server did not start; see $dir/redis.log" >&2
    return 1
}

# What scripts/check-status-page needs: Debian's chromium (Playwright's own browser builds
# cannot be downloaded here, so Playwright drives this one), nginx (the page is checked behind
# the deployment's nginx config), and the playwright package in the private venv. Prints the
# venv's python.
ensure_browser_packages() {
    local missing=()
    command -v chromium >/dev/null || missing+=(chromium)
    command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
    if ((${#missing[@]})); then
        log "installing Debian packages: ${missing[*]}"
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq >&2
        # Without systemd nginx's service start fails harmlessly; the check runs its own.
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null || true
        command -v chromium >/dev/null && { command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; } \
            || { echo "could not install ${missing[*]}" >&2; exit 1; }
    fi
    export PATH="$PATH:/usr/sbin"
    local python
    python="$(ensure_python_redis)"
    if ! "$python" -c 'import playwright' 2>/dev/null; then
        log "installing the playwright package into $CERVELLA_ROOT/.venv-cervella (it drives Debian's chromium)"
        "$python" -m pip install -q --disable-pip-version-check 'playwright>=1.45,<2' >&2
    fi
    echo "$python"
}
