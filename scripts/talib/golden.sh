#!/usr/bin/env bash
# Regenerates tests/fixtures/talib/golden.json.gz (npm run talib:golden): TA-Lib's outputs on the first 2,000
# real BTCUSDT 1m bars of December 2024, for tests/signals/talib.test.ts.
#
# The CSV text goes to TA-Lib as it is in the archive: mercury's scanner parses decimals to the same doubles as
# strtod (src/lib/archive/csv.ts), so both sides see identical inputs
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ZIP="$ROOT/datasets/binance/spot/klines/BTCUSDT/1m/BTCUSDT-1m-2024-12.zip"
OUT="$ROOT/tests/fixtures/talib/golden.json.gz"
ROWS=2000

eval "$(bash "$ROOT/scripts/talib/build.sh" | grep '^GOLDEN_BIN=')"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
{
  echo "open,high,low,close,volume"
  # Binance kline columns: open_time, open, high, low, close, volume, ...; a header line, if any, is dropped.
  # awk stops by itself so no pipe is cut short under pipefail
  unzip -p "$ZIP" >"$tmp/raw.csv"
  awk -F, -v n="$ROWS" '/^[0-9]/ { print $2 "," $3 "," $4 "," $5 "," $6; if (++k == n) exit }' "$tmp/raw.csv"
} >"$tmp/bars.csv"
got=$(($(wc -l <"$tmp/bars.csv") - 1))
if [ "$got" -ne "$ROWS" ]; then
  echo "golden: expected $ROWS bars in $ZIP, found $got" >&2
  exit 1
fi

"$GOLDEN_BIN" "$tmp/bars.csv" >"$tmp/golden.json"
node -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' "$tmp/golden.json"
mkdir -p "$(dirname "$OUT")"
# -n leaves the name and time out of the header, so the same outputs give the same bytes
gzip -9 -n -c "$tmp/golden.json" >"$OUT"
entries=$(grep -o '"[A-Z_0-9]*#[0-9]*"' "$tmp/golden.json" | wc -l)
echo "wrote $OUT: $entries entries over $ROWS bars, $(wc -c <"$tmp/golden.json") bytes of JSON, $(wc -c <"$OUT") gzipped"
