#!/usr/bin/env bash
# The project's test command (npm test). Builds, then runs every test. Services the tests need are installed
# and started here when missing: PostgreSQL for the export tests (tests/export). The lake itself is embedded.
set -euo pipefail
cd "$(dirname "$0")/.."

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
    if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null; }; then
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

if [ ! -d node_modules ]; then npm ci; fi
npm run --silent build
npx vitest run "$@"
