#!/usr/bin/env python3
"""Rebuilds datasets/ and tests/fixtures/ from ../shared/data/real (real exchange data; see datasets/README.md).

Run from the repo root. Only format conversions are made here: kline CSVs are re-packed as the zips
data.binance.vision publishes, and the Binance spot @trade stream recorded by hftbacktest is written in the
data.binance.vision trades CSV layout (quote_qty = price * qty, computed exactly with Decimal).
"""
import gzip, json, os, shutil, zipfile
from decimal import Decimal

REAL = os.path.join('..', 'shared', 'data', 'real')
KL = os.path.join(REAL, 'jan-kluger-backtest')


def zip_csv(src_gz, dst_zip, inner):
    os.makedirs(os.path.dirname(dst_zip), exist_ok=True)
    data = gzip.open(src_gz).read()
    # Fixed timestamp so the zip is byte-for-byte reproducible
    info = zipfile.ZipInfo(inner, date_time=(2025, 1, 2, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(dst_zip, 'w') as z:
        z.writestr(info, data, compresslevel=9)


kdir = os.path.join('datasets', 'binance', 'spot', 'klines', 'BTCUSDT', '1m')
for name in ['BTCUSDT-1m-2024-11', 'BTCUSDT-1m-2024-12', 'BTCUSDT-1m-2025-01-01']:
    zip_csv(os.path.join(KL, name + '.csv.gz'), os.path.join(kdir, name + '.zip'), name + '.csv')

# Trades: the two contiguous hftbacktest spot files, one CSV per UTC day like data.binance.vision
rows = {}
for f in ['btcusdt_20240808.gz', 'btcusdt_20240809.gz']:
    for line in gzip.open(os.path.join(REAL, 'hftbacktest', 'spot', f), 'rt'):
        _, payload = line.split(' ', 1)
        msg = json.loads(payload)
        if msg.get('stream', '').endswith('@trade'):
            d = msg['data']
            rows[d['t']] = d
tdir = os.path.join('datasets', 'binance', 'spot', 'trades', 'BTCUSDT')
os.makedirs(tdir, exist_ok=True)
by_day = {}
for t in sorted(rows):
    d = rows[t]
    day = '2024-08-08' if d['T'] < 1723161600000 else '2024-08-09'
    q = Decimal(d['p']) * Decimal(d['q'])
    by_day.setdefault(day, []).append(
        f"{d['t']},{d['p']},{d['q']},{q.normalize():f},{d['T']},{'True' if d['m'] else 'False'},True\n")
for day, lines in by_day.items():
    name = f'BTCUSDT-trades-{day}'
    info = zipfile.ZipInfo(name + '.csv', date_time=(2025, 1, 2, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(os.path.join(tdir, name + '.zip'), 'w') as z:
        z.writestr(info, ''.join(lines), compresslevel=9)

fx = os.path.join('tests', 'fixtures', 'binance')
os.makedirs(fx, exist_ok=True)
shutil.copyfile(os.path.join(KL, 'BTCUSDT-1m-2023-03.csv.gz'), os.path.join(fx, 'BTCUSDT-1m-2023-03.csv.gz'))
shutil.copyfile(os.path.join(REAL, 'freqtrade', 'XRPETH-aggTrades-2019-10-11_2019-10-13.csv.gz'),
                os.path.join(fx, 'XRPETH-aggTrades-2019-10-11_2019-10-13.csv.gz'))
print('ok')
