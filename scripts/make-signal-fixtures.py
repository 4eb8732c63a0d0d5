#!/usr/bin/env python3
"""Rebuilds tests/fixtures/signals/ from ../shared/data/real (real Binance recordings; see datasets/README.md).

Run from the repo root. Writes gzip CSVs with a header row; every number is the exchange's own decimal string
(trailing zeros trimmed), nothing is synthesised:

* btcusdt-spot-book20-1s-20240808.csv.gz: Binance spot BTCUSDT top-20 book, one row per whole second of exchange
  time, replayed from the recorded REST snapshot plus depth@100ms diffs (hftbacktest examples/spot).
* btcusdt-spot-book20-diff-20240808.csv.gz: the same book after every applied diff, for the first DIFF_SECONDS.
* btcusdt-usdm-funding-1s-20230404.csv.gz: USD-M BTCUSDT markPrice@1s events (funding rate r, mark price p).

The book replay follows Binance's spot local-book procedure: buffer diffs until the snapshot line, drop diffs
with u <= lastUpdateId, require the first applied diff to bridge lastUpdateId+1 within [U, u] and every later
one to start at the previous u + 1; quantities are absolute and 0 deletes the level. Every emitted snapshot is
checked against the recorded bookTicker stream: the last bookTicker whose update id is <= the id the book has
reached must show the same best bid/ask prices and sizes. Timestamps are microseconds of exchange time (the
diff's E); the recorder's local clock ran about 1.27 s behind the exchange, so local time is not used.
"""
import gzip, json, os
from bisect import bisect_right
from decimal import Decimal

REAL = os.path.join('..', 'shared', 'data', 'real', 'hftbacktest')
OUT = os.path.join('tests', 'fixtures', 'signals')
LEVELS = 20
DIFF_SECONDS = 60


def num(s):
    """Canonical decimal string of an exchange number: '61837.63000000' -> '61837.63', '0.00000000' -> '0'"""
    d = Decimal(s)
    if d == 0:
        return '0'
    return format(d.normalize(), 'f')


def write_csv(name, header, rows):
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name)
    body = ','.join(header) + '\n' + ''.join(','.join(r) + '\n' for r in rows)
    # mtime=0 keeps the gzip byte-for-byte reproducible
    with open(path, 'wb') as f, gzip.GzipFile(filename='', mode='wb', fileobj=f, mtime=0, compresslevel=9) as g:
        g.write(body.encode())
    print(f'{path}: {len(rows)} rows, {os.path.getsize(path)} bytes')


class Book:
    def __init__(self, snap):
        self.bids = {Decimal(p): q for p, q in snap['bids'] if Decimal(q) != 0}
        self.asks = {Decimal(p): q for p, q in snap['asks'] if Decimal(q) != 0}
        self.last = snap['lastUpdateId']
        self.applied = 0

    def apply(self, d):
        if d['u'] <= self.last:
            return False
        if self.applied == 0:
            assert d['U'] <= self.last + 1 <= d['u'], f"first diff {d['U']}..{d['u']} does not bridge {self.last + 1}"
        else:
            assert d['U'] == self.last + 1, f"gap: diff starts at {d['U']}, book is at {self.last}"
        for side, levels in ((self.bids, d['b']), (self.asks, d['a'])):
            for p, q in levels:
                if Decimal(q) == 0:
                    side.pop(Decimal(p), None)
                else:
                    side[Decimal(p)] = q
        self.last = d['u']
        self.applied += 1
        return True

    def top(self):
        bids = sorted(self.bids, reverse=True)[:LEVELS]
        asks = sorted(self.asks)[:LEVELS]
        assert len(bids) == LEVELS and len(asks) == LEVELS, 'book thinner than 20 levels'
        assert bids[0] < asks[0], f'crossed book at update {self.last}'
        return [(b, self.bids[b], a, self.asks[a]) for b, a in zip(bids, asks)]


def book_fixtures():
    diffs, tickers, snap = [], [], None
    buffered = []
    for line in gzip.open(os.path.join(REAL, 'spot', 'btcusdt_20240808.gz'), 'rt'):
        _, payload = line.split(' ', 1)
        msg = json.loads(payload)
        stream = msg.get('stream')
        if stream is None:
            snap = msg
            continue
        d = msg['data']
        if stream.endswith('@depth@100ms'):
            (diffs if snap else buffered).append(d)
        elif stream.endswith('@bookTicker'):
            tickers.append((d['u'], d['b'], d['B'], d['a'], d['A']))
    assert snap is not None, 'no REST snapshot line'
    tickers.sort()
    ticker_ids = [t[0] for t in tickers]

    book = Book(snap)
    applied = []
    for d in buffered + diffs:
        if book.apply(d):
            applied.append((d['E'], book.last, book.top()))
    assert applied, 'no diff applied'

    def check(upd, top):
        k = bisect_right(ticker_ids, upd) - 1
        assert k >= 0, f'no bookTicker at or before update {upd}'
        _, b, bq, a, aq = tickers[k]
        bp, bs, ap, az = top[0]
        got = (bp, Decimal(bs), ap, Decimal(az))
        want = (Decimal(b), Decimal(bq), Decimal(a), Decimal(aq))
        assert got == want, f'book {got} != bookTicker {want} at update {upd}'

    header = ['timestamp'] + [f'{s}_{c}_{k}' for k in range(LEVELS) for s, c in
                              (('bid', 'px'), ('bid', 'sz'), ('ask', 'px'), ('ask', 'sz'))]

    def row(ts_us, top):
        r = [str(ts_us)]
        for bp, bs, ap, az in top:
            r += [num(str(bp)), num(bs), num(str(ap)), num(az)]
        return r

    # Every diff for the first DIFF_SECONDS after the book is in sync
    t0 = applied[0][0]
    per_diff = []
    for e, upd, top in applied:
        if e >= t0 + DIFF_SECONDS * 1000:
            break
        check(upd, top)
        per_diff.append(row(e * 1000, top))

    # Whole seconds of exchange time: the book after every diff with E <= that second
    per_sec = []
    sec = (t0 // 1000 + 1) * 1000
    for i, (e, upd, top) in enumerate(applied[:-1]):
        # The state after diff i holds until the next diff's E; after the last diff the recording says nothing
        nxt = applied[i + 1][0]
        while e <= sec < nxt:
            check(upd, top)
            per_sec.append(row(sec * 1000, top))
            sec += 1000
    write_csv('btcusdt-spot-book20-1s-20240808.csv.gz', header, per_sec)
    write_csv('btcusdt-spot-book20-diff-20240808.csv.gz', header, per_diff)
    print(f'book: {len(applied)} diffs applied from lastUpdateId {snap["lastUpdateId"]}, '
          f'{len(per_sec) + len(per_diff)} snapshots match bookTicker')


def funding_fixture():
    rows = {}
    for f in ['btcusdt_20230404.dat.gz', 'btcusdt_20230405.dat.gz']:
        for line in gzip.open(os.path.join(REAL, 'usdm', f), 'rt'):
            _, payload = line.split(' ', 1)
            msg = json.loads(payload)
            if msg.get('stream', '').endswith('@markPrice@1s'):
                d = msg['data']
                rows[d['E']] = (str(d['E'] * 1000), num(d['r']), num(d['p']))
    assert len(rows) == 514, f'expected 514 markPrice events, found {len(rows)}'
    write_csv('btcusdt-usdm-funding-1s-20230404.csv.gz', ['timestamp', 'funding_rate', 'mark_price'],
              [rows[e] for e in sorted(rows)])


book_fixtures()
funding_fixture()
