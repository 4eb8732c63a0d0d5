#!/usr/bin/env bash
# The project's test command (npm test). Builds, then runs every test. Services the tests need are installed
# and started here when missing (none yet: the lake is embedded; PostgreSQL and Redis arrive with the issues
# that use them).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ]; then npm ci; fi
npm run --silent build
npx vitest run "$@"
