#!/usr/bin/env bash
# The project's test command (npm test). Builds, then runs every test. Services the tests need are installed
# and started here when missing: PostgreSQL for the export tests (tests/export), Redis for the bus and heartbeat
# tests (tests/bus, tests/collect), PyTorch and ONNX for the kaggle/ trainer tests (tests/ml). The lake itself is
# embedded.
set -euo pipefail
cd "$(dirname "$0")/.."

# apt-get install for the service blocks below; the package lists are refreshed once per run, not once per block
APT_UPDATED=
apt_install() {
  if [ -z "$APT_UPDATED" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || return 1
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# PostgreSQL for `mercury export timescale`: on Debian as root it is apt-installed when missing, its cluster
# started, and a test role and database created; vitest gets the URL as MERCURY_TEST_PG_URL. Elsewhere this
# prints what to start, and the export tests fail with that message (they never skip). TimescaleDB is not in
# Debian's repositories (`apt-cache search timescaledb` finds nothing), so the tests load plain PostgreSQL tables
# for real and check the hypertable SQL as generated text. A MERCURY_TEST_PG_URL already set is used as it is.
PG_TEST_ROLE=mercury_test
PG_TEST_DB=mercury_test

pg_hint() {
  echo "test.sh: PostgreSQL is not available for the export tests ($1)." >&2
  echo "test.sh: start one and export MERCURY_TEST_PG_URL=postgres://USER:PASSWORD@HOST:PORT/DB (a role that may" >&2
  echo "test.sh: CREATE DATABASE), or run this script as root on Debian to have it installed. Those tests will fail." >&2
}

pg_setup() {
  if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then pg_hint 'not installed, and not root to install it'; return 0; fi
    if [ ! -f /etc/debian_version ] || ! command -v apt-get >/dev/null; then
      pg_hint 'not installed, and not a Debian machine to apt-get it'; return 0
    fi
    echo 'test.sh: installing PostgreSQL (apt-get install postgresql)' >&2
    if ! { apt_install postgresql; }; then
      pg_hint 'apt-get install postgresql failed'; return 0
    fi
  fi
  if [ "$(id -u)" -ne 0 ]; then pg_hint 'installed, but starting it and creating the test role needs root'; return 0; fi
  local ver port i
  ver=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  # The package creates cluster `main`; a machine where it was dropped gets it back
  if ! pg_lsclusters -h | awk -v v="$ver" '$1 == v && $2 == "main" { found = 1 } END { exit !found }'; then
    if ! pg_createcluster "$ver" main >/dev/null; then pg_hint "pg_createcluster $ver main failed"; return 0; fi
  fi
  port=$(pg_lsclusters -h | awk -v v="$ver" '$1 == v && $2 == "main" { print $3 }')
  # Already running is fine (another test run or developer started it)
  pg_ctlcluster "$ver" main start >/dev/null 2>&1 || true
  for i in $(seq 1 30); do
    if pg_isready -q -h 127.0.0.1 -p "$port"; then break; fi
    sleep 1
  done
  if ! pg_isready -q -h 127.0.0.1 -p "$port"; then pg_hint "cluster $ver/main did not start on port $port"; return 0; fi
  # Peer authentication as the postgres OS user; from / so psql does not warn about the working directory
  if ! (cd / && runuser -u postgres -- psql -q -X -p "$port" -v ON_ERROR_STOP=1 >/dev/null) <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_TEST_ROLE') THEN
    CREATE ROLE $PG_TEST_ROLE LOGIN CREATEDB PASSWORD '$PG_TEST_ROLE';
  END IF;
END \$\$;
-- DROP DATABASE ... WITH (FORCE) after each test ends sessions that may still be open there (an autovacuum worker
-- among them), which takes pg_signal_backend for a role that is not a superuser
GRANT pg_signal_backend TO $PG_TEST_ROLE;
SELECT 'CREATE DATABASE $PG_TEST_DB OWNER $PG_TEST_ROLE'
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$PG_TEST_DB') \gexec
SQL
  then
    pg_hint "creating role and database $PG_TEST_ROLE failed"; return 0
  fi
  export MERCURY_TEST_PG_URL="postgres://$PG_TEST_ROLE:$PG_TEST_ROLE@127.0.0.1:$port/$PG_TEST_DB"
  echo "test.sh: PostgreSQL $ver ready on port $port for the export tests" >&2
}

if [ -z "${MERCURY_TEST_PG_URL:-}" ]; then pg_setup; fi

# Redis for the bus and heartbeat tests: on Debian as root redis-server is apt-installed when missing. A private
# instance (loopback only, no persistence, its files in a temp folder) is started on the first free port from 6390,
# or one already answering there is reused; vitest gets its URL as MERCURY_TEST_REDIS_URL. Starting it needs no
# root. Elsewhere this prints what to start; with CI set those tests then fail, without it they skip and say so.
# A MERCURY_TEST_REDIS_URL already set is used as it is.
redis_hint() {
  echo "test.sh: Redis is not available for the bus and heartbeat tests ($1)." >&2
  echo "test.sh: start one (e.g. redis-server --port 6390 --save '' --appendonly no) and export" >&2
  echo "test.sh: MERCURY_TEST_REDIS_URL=redis://127.0.0.1:6390, or run this script as root on Debian to have it installed." >&2
}

# Answers 0 when a Redis on 127.0.0.1:$1 replies PONG
redis_ping() {
  if command -v redis-cli >/dev/null; then
    [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'PING\r\n' >&3 && IFS= read -r -t 2 line <&3 && [ "${line%$'\r'}" = +PONG ]) 2>/dev/null
  fi
}

redis_setup() {
  if ! command -v redis-server >/dev/null; then
    if [ "$(id -u)" -ne 0 ]; then redis_hint 'redis-server is not installed, and not root to install it'; return 0; fi
    if [ ! -f /etc/debian_version ] || ! command -v apt-get >/dev/null; then
      redis_hint 'redis-server is not installed, and not a Debian machine to apt-get it'; return 0
    fi
    echo 'test.sh: installing Redis (apt-get install redis-server)' >&2
    if ! { apt_install redis-server; }; then
      redis_hint 'apt-get install redis-server failed'; return 0
    fi
  fi
  local port dir i
  for port in $(seq 6390 6399); do
    if redis_ping "$port"; then break; fi
    dir="${TMPDIR:-/tmp}/mercury-test-redis-$port"
    mkdir -p "$dir"
    if ! redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes --dir "$dir" \
      --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" >/dev/null 2>&1; then
      continue
    fi
    for i in $(seq 1 50); do
      if redis_ping "$port"; then break; fi
      sleep 0.1
    done
    # Another service holding the port makes the daemon exit: try the next one
    if redis_ping "$port"; then break; fi
  done
  if ! redis_ping "$port"; then redis_hint 'no private instance would start on ports 6390-6399'; return 0; fi
  export MERCURY_TEST_REDIS_URL="redis://127.0.0.1:$port"
  echo "test.sh: Redis ready on port $port for the bus and heartbeat tests" >&2
}

if [ -z "${MERCURY_TEST_REDIS_URL:-}" ]; then redis_setup; fi

# Chromium for the backtest report tests (tests/backtest/report.test.ts), which open the HTML report in a real
# headless browser over the DevTools Protocol: on Debian as root the `chromium` package is apt-installed when
# missing; vitest gets its path as MERCURY_TEST_CHROMIUM. Elsewhere this prints what to install; with CI set those
# tests then fail, without it they skip and say so. A MERCURY_TEST_CHROMIUM already set is used as it is.
chromium_hint() {
  echo "test.sh: Chromium is not available for the HTML report tests ($1)." >&2
  echo "test.sh: install Chromium (Debian/Ubuntu: apt-get install chromium) and export MERCURY_TEST_CHROMIUM=/path/to/chromium," >&2
  echo "test.sh: or run this script as root on Debian to have it installed." >&2
}

chromium_setup() {
  local bin
  bin=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
  if [ -z "$bin" ]; then
    if [ "$(id -u)" -ne 0 ]; then chromium_hint 'not installed, and not root to install it'; return 0; fi
    if [ ! -f /etc/debian_version ] || ! command -v apt-get >/dev/null; then
      chromium_hint 'not installed, and not a Debian machine to apt-get it'; return 0
    fi
    echo 'test.sh: installing Chromium (apt-get install chromium)' >&2
    if ! { apt_install chromium; }; then
      chromium_hint 'apt-get install chromium failed'; return 0
    fi
    bin=$(command -v chromium || true)
    if [ -z "$bin" ]; then chromium_hint 'the chromium package installed no chromium command'; return 0; fi
  fi
  export MERCURY_TEST_CHROMIUM="$bin"
  echo "test.sh: Chromium ready at $bin for the report tests" >&2
}

if [ -z "${MERCURY_TEST_CHROMIUM:-}" ]; then chromium_setup; fi

# Python with torch and onnx for the kaggle/ trainer tests (tests/ml spawn kaggle/train_mamba.py): on Debian as root
# python3-torch, python3-onnx and python3-numpy are apt-installed when no python3 imports torch and onnx. Debian's
# packages serve /usr/bin/python3, which a pyenv or venv python3 earlier on PATH does not see, so both are tried and
# the one that works goes to vitest as MERCURY_PYTHON. Elsewhere this prints what to install; with CI set those tests
# then fail, without it they skip and say so. A MERCURY_PYTHON already set is used as it is.
py_hint() {
  echo "test.sh: no python3 with torch and onnx for the kaggle/ trainer tests ($1)." >&2
  echo "test.sh: install them (Debian: apt-get install python3-torch python3-onnx python3-numpy; elsewhere: pip install" >&2
  echo "test.sh: torch onnx numpy) and export MERCURY_PYTHON=/path/to/python3, or run this script as root on Debian." >&2
}

# Prints the first python3 that imports torch and onnx
py_find() {
  local p
  for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null && "$p" -c 'import torch, onnx' >/dev/null 2>&1; then command -v "$p"; return 0; fi
  done
  return 1
}

py_setup() {
  local py
  if ! py=$(py_find); then
    if [ "$(id -u)" -ne 0 ]; then py_hint 'torch or onnx is not installed, and not root to install them'; return 0; fi
    if [ ! -f /etc/debian_version ] || ! command -v apt-get >/dev/null; then
      py_hint 'torch or onnx is not installed, and not a Debian machine to apt-get them'; return 0
    fi
    echo 'test.sh: installing PyTorch and ONNX (apt-get install python3-torch python3-onnx python3-numpy)' >&2
    if ! { apt_install python3-torch python3-onnx python3-numpy; }; then
      py_hint 'apt-get install python3-torch python3-onnx python3-numpy failed'; return 0
    fi
    if ! py=$(py_find); then py_hint 'installed, but neither python3 nor /usr/bin/python3 imports torch and onnx'; return 0; fi
  fi
  export MERCURY_PYTHON="$py"
  echo "test.sh: $py has torch and onnx for the kaggle/ trainer tests" >&2
}

if [ -z "${MERCURY_PYTHON:-}" ]; then py_setup; fi

if [ ! -d node_modules ]; then npm ci; fi
npm run --silent build
npx vitest run "$@"
