#!/usr/bin/env python3
"""Trains a small Mamba (selective state-space) classifier of order-book mid-price direction and exports it to ONNX.

Input: the output folder of `mercury convert-lob` (Parquet shards and manifest.json, read with pyarrow) or its NumPy
export (`npy/features.npy` float32 [rows, 4N+2], `npy/ts.npy` int64 µs, `npy/columns.json`). Output (--out):
`model.onnx`, `model.json` (the input contract mercury's `src/lib/ml` scores with), `metrics.jsonl`, and
`reference_*.npy` (windows and PyTorch logits, for parity checks against ONNX Runtime).

Runs on TPU through torch_xla when it is importable, else CUDA, else CPU (--device picks one). See kaggle/README.md.

    python3 train_mamba.py --data /kaggle/input/<dataset> --out /kaggle/working/out --steps 2000
    python3 train_mamba.py --self-test      # parallel scan == sequential scan, ONNX export of both
"""
from __future__ import annotations

import argparse
import glob
import hashlib
import inspect
import json
import math
import os
import sys
import tempfile
import time
import warnings
from datetime import datetime, timezone

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

FEATURE_TRANSFORM = 'mercury-lob-v1'
CARD_FORMAT = 'mercury-lob-model'
LABELS = {'0': 'down', '1': 'flat', '2': 'up'}
INPUT_NAME = 'features'
OUTPUT_NAME = 'logits'
BPS = 1e4
TS_COLUMNS = ('ts', 'timestamp', 'local_timestamp', 'time_us')

# Kaggle runs a script kernel with no arguments: these are used then (edit them before `kaggle kernels push`)
KAGGLE_ARGS = ['--steps', '2000', '--batch', '64', '--eval-every', '200']


def log(msg):
    print(f'train_mamba: {msg}', file=sys.stderr, flush=True)


class UsageError(Exception):
    """Bad flag or input folder: exit 2 with the message."""


# ---------------------------------------------------------------------------------------------------------------------
# The feature transform. The same transform is written in TypeScript in src/lib/ml/features.ts: change both together
# (tests/ml checks they agree to 1e-6 on the same rows).
#
# Raw row (convert-lob wide layout, N levels per side, level 0 the best):
#   bid_px_0..N-1, bid_sz_0..N-1, ask_px_0..N-1, ask_sz_0..N-1, mid, spread
# Features, 4N + 2 per row, same order:
#   bid_px_rel_bps_k = ln(bid_px_k / mid) * 1e4      log-return of the level price relative to mid, bps
#   bid_sz_log_k     = ln(1 + bid_sz_k)
#   ask_px_rel_bps_k = ln(ask_px_k / mid) * 1e4
#   ask_sz_log_k     = ln(1 + ask_sz_k)
#   spread_bps       = spread / mid * 1e4
#   mid_ret_bps      = ln(mid / previous row's mid) * 1e4, 0 on the first row
# A missing level (price NaN, infinite or <= 0) repeats the price feature of the level above (0 for level 0) and has
# size feature 0. Rows need a positive mid. Everything is float64; only normalised windows are float32.
# ---------------------------------------------------------------------------------------------------------------------


def raw_columns(levels):
    return [f'{n}_{k}' for n in ('bid_px', 'bid_sz', 'ask_px', 'ask_sz') for k in range(levels)] + ['mid', 'spread']


def feature_names(levels):
    names = ('bid_px_rel_bps', 'bid_sz_log', 'ask_px_rel_bps', 'ask_sz_log')
    return [f'{n}_{k}' for n in names for k in range(levels)] + ['spread_bps', 'mid_ret_bps']


def lob_features(raw, levels):
    """Transforms raw rows [n, 4N+2] (float64) into feature rows [n, 4N+2] (float64)."""
    raw = np.asarray(raw, dtype=np.float64)
    n, width = raw.shape
    if width != 4 * levels + 2:
        raise ValueError(f'raw rows have {width} columns, expected {4 * levels + 2} for {levels} levels')
    mid = raw[:, 4 * levels]
    spread = raw[:, 4 * levels + 1]
    if not np.all((mid > 0) & (mid != np.inf)):
        bad = int(np.argmin((mid > 0) & (mid != np.inf)))
        raise ValueError(f'row {bad}: mid is {mid[bad]}, expected a positive price')
    if not np.all(np.isfinite(spread)):
        raise ValueError('spread must be finite on every row')
    out = np.empty((n, width), dtype=np.float64)
    with np.errstate(invalid='ignore', divide='ignore'):
        for side in range(2):
            px_at, sz_at = 2 * side * levels, (2 * side + 1) * levels
            prev = np.zeros(n)
            for k in range(levels):
                px = raw[:, px_at + k]
                sz = raw[:, sz_at + k]
                ok = (px > 0) & (px != np.inf)
                rel = np.where(ok, np.log(np.where(ok, px, 1.0) / mid) * BPS, prev)
                size_ok = ok & (sz > 0) & (sz != np.inf)
                out[:, px_at + k] = rel
                out[:, sz_at + k] = np.where(size_ok, np.log1p(np.where(size_ok, sz, 0.0)), 0.0)
                prev = rel
    out[:, 4 * levels] = spread / mid * BPS
    out[:, 4 * levels + 1] = 0.0
    if n > 1:
        out[1:, 4 * levels + 1] = np.log(mid[1:] / mid[:-1]) * BPS
    return out


# ---------------------------------------------------------------------------------------------------------------------
# Data: convert-lob Parquet shards + manifest.json, or its npy export
# ---------------------------------------------------------------------------------------------------------------------


def sha256_file(path, h=None):
    h = h or hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h


def levels_of(columns):
    levels = 0
    while f'bid_px_{levels}' in columns:
        levels += 1
    if levels == 0:
        raise UsageError('the data has no bid_px_0 column. Expected the convert-lob wide layout (bid_px_0.., mid, spread)')
    missing = [c for c in raw_columns(levels)[:4 * levels] if c not in columns]
    if missing:
        raise UsageError(f'the data lacks columns {missing[:5]}. Expected {levels} levels of bid/ask px/sz')
    return levels


def npy_dir(data):
    for d in (os.path.join(data, 'npy'), data):
        if os.path.isfile(os.path.join(d, 'features.npy')):
            return d
    return None


def load_npy(data):
    d = npy_dir(data)
    if d is None:
        raise UsageError(f"--data {data}: no npy/features.npy. Expected the output of `mercury convert-lob --npy`")
    with open(os.path.join(d, 'columns.json')) as f:
        meta = json.load(f)
    columns = meta if isinstance(meta, list) else meta.get('columns') or meta.get('names') or meta.get('features')
    if not isinstance(columns, list):
        raise UsageError(f'{d}/columns.json: expected a list of column names or {{"columns": [...]}}')
    features = np.load(os.path.join(d, 'features.npy'), mmap_mode='r')
    ts = np.load(os.path.join(d, 'ts.npy')).astype(np.int64)
    if features.ndim != 2 or features.shape[1] != len(columns) or features.shape[0] != ts.shape[0]:
        raise UsageError(f'{d}: features.npy {features.shape}, ts.npy {ts.shape} and {len(columns)} columns disagree')
    levels = levels_of(columns)
    want = raw_columns(levels)
    index = {c: i for i, c in enumerate(columns)}
    raw = np.empty((features.shape[0], len(want)), dtype=np.float64)
    for j, c in enumerate(want[:4 * levels]):
        raw[:, j] = features[:, index[c]]
    bid0, ask0 = raw[:, 0], raw[:, 2 * levels]
    raw[:, 4 * levels] = features[:, index['mid']] if 'mid' in index else (bid0 + ask0) / 2
    raw[:, 4 * levels + 1] = features[:, index['spread']] if 'spread' in index else ask0 - bid0
    manifest = os.path.join(data, 'manifest.json')
    if os.path.isfile(manifest):
        digest, of = sha256_file(manifest).hexdigest(), 'manifest.json'
    else:
        h = hashlib.sha256()
        for name in ('columns.json', 'features.npy', 'ts.npy'):
            sha256_file(os.path.join(d, name), h)
        digest, of = h.hexdigest(), 'npy/columns.json+features.npy+ts.npy'
    return raw, ts, levels, {'format': 'npy', 'path': os.path.abspath(d), 'manifest_sha256': digest, 'manifest_of': of}


def parquet_files(data):
    manifest = os.path.join(data, 'manifest.json')
    if os.path.isfile(manifest):
        with open(manifest) as f:
            m = json.load(f)
        listed = m.get('shards') or m.get('files') or m.get('parts') if isinstance(m, dict) else None
        if isinstance(listed, list) and listed:
            paths = []
            for s in listed:
                p = s if isinstance(s, str) else (s.get('path') or s.get('file')) if isinstance(s, dict) else None
                if isinstance(p, str):
                    paths.append(p if os.path.isabs(p) else os.path.join(data, p))
            if paths:
                return paths
    return sorted(p for p in glob.glob(os.path.join(data, '**', '*.parquet'), recursive=True))


def load_parquet(data):
    import pyarrow.parquet as pq
    files = parquet_files(data)
    if not files:
        raise UsageError(f'--data {data}: no Parquet shards. Expected the output of `mercury convert-lob`')
    columns = pq.read_schema(files[0]).names
    levels = levels_of(columns)
    ts_col = next((c for c in TS_COLUMNS if c in columns), None)
    if ts_col is None:
        raise UsageError(f'{files[0]}: no time column. Expected one of {", ".join(TS_COLUMNS)}')
    want = [c for c in raw_columns(levels) if c in columns] + [ts_col]
    parts = [pq.read_table(f, columns=want) for f in files]
    raws, tss = [], []
    for t in parts:
        cols = {c: t.column(c).to_numpy() for c in want}
        raw = np.empty((t.num_rows, 4 * levels + 2), dtype=np.float64)
        for j, c in enumerate(raw_columns(levels)[:4 * levels]):
            raw[:, j] = np.asarray(cols[c], dtype=np.float64)
        bid0, ask0 = raw[:, 0], raw[:, 2 * levels]
        raw[:, 4 * levels] = cols['mid'] if 'mid' in cols else (bid0 + ask0) / 2
        raw[:, 4 * levels + 1] = cols['spread'] if 'spread' in cols else ask0 - bid0
        raws.append(raw)
        tss.append(np.asarray(cols[ts_col]).astype(np.int64))
    raw, ts = np.concatenate(raws), np.concatenate(tss)
    order = np.argsort(ts, kind='stable')
    manifest = os.path.join(data, 'manifest.json')
    if os.path.isfile(manifest):
        digest, of = sha256_file(manifest).hexdigest(), 'manifest.json'
    else:
        h = hashlib.sha256()
        for f in files:
            sha256_file(f, h)
        digest, of = h.hexdigest(), f'{len(files)} parquet shards'
    info = {'format': 'parquet', 'path': os.path.abspath(data), 'shards': len(files), 'manifest_sha256': digest, 'manifest_of': of}
    return raw[order], ts[order], levels, info


def load_data(data, force_npy, max_rows):
    has_parquet = bool(glob.glob(os.path.join(data, '**', '*.parquet'), recursive=True))
    if force_npy or not has_parquet:
        raw, ts, levels, info = load_npy(data)
    else:
        try:
            raw, ts, levels, info = load_parquet(data)
        except ImportError:
            if npy_dir(data) is None:
                raise UsageError('reading Parquet shards needs pyarrow (pip install pyarrow), or pass an npy export')
            log('pyarrow is not importable: reading the npy export instead')
            raw, ts, levels, info = load_npy(data)
    if max_rows and raw.shape[0] > max_rows:
        raw, ts = raw[:max_rows], ts[:max_rows]
    if np.any(np.diff(ts) < 0):
        raise UsageError(f'{info["path"]}: rows are not in time order')
    info['input_rows'] = int(raw.shape[0])
    mid = raw[:, 4 * levels]
    keep = np.flatnonzero((mid > 0) & np.isfinite(mid) & np.isfinite(raw[:, 4 * levels + 1]))
    if keep.size < raw.shape[0]:
        log(f'dropping {raw.shape[0] - keep.size} rows without a positive mid or finite spread')
    return raw[keep], ts[keep], keep, levels, info


# ---------------------------------------------------------------------------------------------------------------------
# Labels and splits
# ---------------------------------------------------------------------------------------------------------------------


def make_labels(mid, horizon, threshold_bps):
    """Class of the mid move over `horizon` rows: 0 down (< -threshold), 1 flat, 2 up (> threshold); -1 at the end."""
    n = mid.shape[0]
    y = np.full(n, -1, dtype=np.int64)
    if n > horizon:
        r = np.log(mid[horizon:] / mid[:-horizon]) * BPS
        y[:n - horizon] = np.where(r > threshold_bps, 2, np.where(r < -threshold_bps, 0, 1))
    return y


def split_ends(ts, window, horizon, kept=None, fractions=(0.7, 0.15), max_gap_factor=5.0):
    """Window end rows per split, by time, with `horizon + window` rows between splits so no label or input is shared.
    Windows whose rows or label horizon span a time gap above `max_gap_factor` x the median spacing, or a dropped
    row (`kept`: indices of the rows kept from the input), are left out."""
    n = ts.shape[0]
    gap = horizon + window
    dt = np.diff(ts)
    median = float(np.median(dt)) if dt.size else 0.0
    cut = dt > max_gap_factor * median if median > 0 else np.zeros(max(0, n - 1), dtype=bool)
    if kept is not None:
        cut = cut | (np.diff(kept) > 1)
    breaks = np.concatenate([[0], np.cumsum(cut)])
    cut1 = int(n * fractions[0])
    cut2 = int(n * (fractions[0] + fractions[1]))
    ranges = {'train': (window - 1, cut1), 'val': (cut1 + gap, cut2), 'test': (cut2 + gap, n - horizon)}
    out = {}
    for name, (lo, hi) in ranges.items():
        ends = np.arange(max(lo, window - 1), max(hi, window - 1), dtype=np.int64)
        ends = ends[ends + horizon < n]
        ends = ends[breaks[ends - window + 1] == breaks[ends + horizon]]
        out[name] = ends
    return out, int(median)


def norm_stats(features, rows):
    """Mean and std per feature over the given rows; std below 1e-8 becomes 1 (a constant feature)."""
    x = features[rows]
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std = np.where(std < 1e-8, 1.0, std)
    return mean, std


def normalize(features, mean, std):
    return ((features - mean) / std).astype(np.float32)


# ---------------------------------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------------------------------


def scan_sequential(a, b):
    """h_t = a_t * h_{t-1} + b_t along dim 1 with h_{-1} = 0, one step at a time (the reference)."""
    h = torch.zeros_like(b[:, 0])
    out = []
    for t in range(a.shape[1]):
        h = a[:, t] * h + b[:, t]
        out.append(h)
    return torch.stack(out, dim=1)


def scan_parallel(a, b):
    """The same recurrence as a Hillis-Steele inclusive scan: log2(L) rounds of the associative combine
    (a1, b1) then (a2, b2) = (a1 a2, a2 b1 + b2). Every round builds new tensors (shift by concatenating the
    identity (1, 0) in front) and nothing is written in place, so torch_xla traces it into one graph and the ONNX
    exporter sees only Concat, Slice, Mul and Add."""
    length = a.shape[1]
    d = 1
    while d < length:
        a_prev = torch.cat([torch.ones_like(a[:, :d]), a[:, :length - d]], dim=1)
        b_prev = torch.cat([torch.zeros_like(b[:, :d]), b[:, :length - d]], dim=1)
        b = a * b_prev + b
        a = a * a_prev
        d *= 2
    return b


SCANS = {'parallel': scan_parallel, 'sequential': scan_sequential}


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class MambaBlock(nn.Module):
    """Pre-norm residual Mamba block: RMSNorm, input projection to (u, z), depthwise causal conv1d + SiLU on u,
    selective SSM whose delta, B and C depend on the input, SiLU(z) gate, output projection, residual."""

    def __init__(self, d_model, d_state, d_conv=4, expand=2, scan='parallel'):
        super().__init__()
        d_inner = expand * d_model
        self.d_inner, self.d_state, self.d_conv = d_inner, d_state, d_conv
        self.dt_rank = math.ceil(d_model / 16)
        self.scan = scan
        self.norm = RMSNorm(d_model)
        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=False)
        self.conv = nn.Conv1d(d_inner, d_inner, d_conv, groups=d_inner, bias=True)
        self.x_proj = nn.Linear(d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, d_inner, bias=True)
        # S4D-real initialisation of A, and delta's bias so softplus(bias) spans [1e-3, 1e-1] (as in Mamba)
        a = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(d_inner, 1)
        self.A_log = nn.Parameter(torch.log(a))
        self.D = nn.Parameter(torch.ones(d_inner))
        dt = torch.exp(torch.rand(d_inner) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)

    def forward(self, x):
        h = self.norm(x)
        u, z = self.in_proj(h).chunk(2, dim=-1)
        # Causal: pad d_conv - 1 steps on the left only, so step t sees t - d_conv + 1 .. t
        u = self.conv(F.pad(u.transpose(1, 2), (self.d_conv - 1, 0))).transpose(1, 2)
        u = F.silu(u)
        dt, bm, cm = torch.split(self.x_proj(u), [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = F.softplus(self.dt_proj(dt))                                   # [B, L, Di]
        a = -torch.exp(self.A_log)                                         # [Di, N]
        da = torch.exp(dt.unsqueeze(-1) * a)                               # [B, L, Di, N]
        dbu = (dt * u).unsqueeze(-1) * bm.unsqueeze(2)                     # [B, L, Di, N]
        hs = SCANS[self.scan](da, dbu)                                     # [B, L, Di, N]
        y = (hs * cm.unsqueeze(2)).sum(-1) + u * self.D
        y = y * F.silu(z)
        return x + self.out_proj(y)


class LobMamba(nn.Module):
    """Windows [batch, window, features] -> logits [batch, 3] (down, flat, up) read from the last step."""

    def __init__(self, n_features, d_model=64, d_state=16, layers=2, d_conv=4, expand=2, scan='parallel'):
        super().__init__()
        self.embed = nn.Linear(n_features, d_model)
        self.blocks = nn.ModuleList([MambaBlock(d_model, d_state, d_conv, expand, scan) for _ in range(layers)])
        self.norm_f = RMSNorm(d_model)
        self.head = nn.Linear(d_model, 3)

    def set_scan(self, scan):
        for b in self.blocks:
            b.scan = scan
        return self

    def sequence(self, x):
        """Normalised hidden states of every step, [batch, window, d_model]."""
        h = self.embed(x)
        for block in self.blocks:
            h = block(h)
        return self.norm_f(h)

    def forward(self, x):
        return self.head(self.sequence(x)[:, -1])


# ---------------------------------------------------------------------------------------------------------------------
# Devices, logging, export
# ---------------------------------------------------------------------------------------------------------------------


class Device:
    def __init__(self, name):
        self.kind = None
        self.xm = None
        if name in ('auto', 'xla'):
            try:
                import torch_xla
                import torch_xla.core.xla_model as xm
                self.xm = xm
                self.device = torch_xla.device() if hasattr(torch_xla, 'device') else xm.xla_device()
                self.kind = 'xla'
            except ImportError:
                if name == 'xla':
                    raise UsageError('--device xla: torch_xla is not importable. Expected a TPU runtime (see kaggle/README.md)')
        if self.kind is None and name in ('auto', 'cuda'):
            if torch.cuda.is_available():
                self.device, self.kind = torch.device('cuda'), 'cuda'
            elif name == 'cuda':
                raise UsageError('--device cuda: no CUDA device is available')
        if self.kind is None:
            self.device, self.kind = torch.device('cpu'), 'cpu'

    def step(self):
        """Cuts the lazy XLA graph after an optimiser step (no-op elsewhere)."""
        if self.xm is not None:
            import torch_xla
            if hasattr(torch_xla, 'sync'):
                torch_xla.sync()
            else:
                self.xm.mark_step()


def open_wandb(config):
    key = os.environ.get('WANDB_API_KEY')
    if not key and os.environ.get('KAGGLE_KERNEL_RUN_TYPE'):
        try:
            from kaggle_secrets import UserSecretsClient
            key = UserSecretsClient().get_secret('WANDB_API_KEY')
            os.environ['WANDB_API_KEY'] = key
        except Exception:  # noqa: BLE001 - no secret attached is the normal case
            key = None
    if not key:
        return None
    try:
        import wandb
    except ImportError:
        log('WANDB_API_KEY is set but wandb is not importable: metrics go to metrics.jsonl only')
        return None
    return wandb.init(project=os.environ.get('WANDB_PROJECT', 'mercury-lob'), config=config)


def export_onnx(model, path, window, n_features, opset):
    """Exports with a free batch dimension; the window is fixed, so the scan unrolls to a static graph."""
    dummy = torch.zeros(1, window, n_features)
    kwargs = dict(input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], opset_version=opset, do_constant_folding=True,
                  dynamic_axes={INPUT_NAME: {0: 'batch'}, OUTPUT_NAME: {0: 'batch'}})
    # torch >= 2.5 has a second exporter (dynamo=True, the default from 2.9); the TorchScript one handles this graph
    if 'dynamo' in inspect.signature(torch.onnx.export).parameters:
        kwargs['dynamo'] = False
    tmp = path + '.tmp'
    with torch.no_grad(), warnings.catch_warnings():
        # The window is fixed, so the scan's Python loop over a traced length is meant to be baked in
        warnings.simplefilter('ignore')
        torch.onnx.export(model, dummy, tmp, **kwargs)
    os.replace(tmp, path)
    try:
        import onnx
        onnx.checker.check_model(onnx.load(path))
    except ImportError:
        log('onnx is not importable: the exported graph was not checked')


def onnxruntime_diff(path, x, expected):
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    sess = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    got = sess.run([OUTPUT_NAME], {INPUT_NAME: x})[0]
    return float(np.max(np.abs(got - expected)))


def write_json(path, obj):
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(obj, f, indent=2)
        f.write('\n')
    os.replace(tmp, path)


def iso(us):
    return datetime.fromtimestamp(int(us) / 1e6, tz=timezone.utc).isoformat().replace('+00:00', 'Z')


# ---------------------------------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------------------------------


def gather(x, y, ends, window, offsets):
    idx = ends.unsqueeze(1) - (window - 1) + offsets
    return x[idx], y[ends]


def evaluate(model, x, y, ends, window, offsets, device, batch):
    """Mean cross-entropy and accuracy over the given window ends."""
    model.eval()
    total = torch.zeros((), device=device.device)
    correct = torch.zeros((), device=device.device)
    with torch.no_grad():
        for i in range(0, len(ends), batch):
            e = torch.as_tensor(ends[i:i + batch], device=device.device)
            xb, yb = gather(x, y, e, window, offsets)
            logits = model(xb)
            total = total + F.cross_entropy(logits, yb, reduction='sum')
            correct = correct + (logits.argmax(-1) == yb).sum()
    model.train()
    n = max(1, len(ends))
    return float(total.cpu()) / n, float(correct.cpu()) / n


def subsample(ends, k):
    if k <= 0 or len(ends) <= k:
        return ends
    return ends[np.linspace(0, len(ends) - 1, k).round().astype(np.int64)]


def lr_at(step, steps, lr):
    warmup = max(1, min(100, steps // 10))
    if step < warmup:
        return lr * (step + 1) / warmup
    p = (step - warmup) / max(1, steps - warmup)
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))


def train(args):
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    rng = np.random.default_rng(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = Device(args.device)
    t_load = time.time()
    raw, ts, kept, levels, info = load_data(args.data, args.npy, args.max_rows)
    n = raw.shape[0]
    feats = lob_features(raw, levels)
    mid = raw[:, 4 * levels]
    y = make_labels(mid, args.horizon, args.threshold_bps)
    splits, interval = split_ends(ts, args.window, args.horizon, kept)
    for name, e in splits.items():
        if len(e) == 0:
            raise UsageError(f'the {name} split is empty: {n} rows are too few for --window {args.window} and '
                             f'--horizon {args.horizon} (each split boundary costs {args.window + args.horizon} rows)')
    train_rows = np.arange(0, int(splits['train'][-1]) + 1)
    mean, std = norm_stats(feats, train_rows)
    x_np = normalize(feats, mean, std)
    counts = {name: np.bincount(y[e], minlength=3).tolist() for name, e in splits.items()}
    log(f'{n} rows ({info["format"]}, {levels} levels) in {time.time() - t_load:.1f}s; windows '
        + ', '.join(f'{k} {len(v)} {counts[k]}' for k, v in splits.items()) + f'; device {device.kind}')

    n_features = 4 * levels + 2
    model = LobMamba(n_features, args.d_model, args.d_state, args.layers, args.d_conv, args.expand).to(device.device)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    weight = None
    if args.class_weights == 'balanced':
        c = np.maximum(np.array(counts['train'], dtype=np.float64), 1.0)
        weight = torch.tensor(c.sum() / (3 * c), dtype=torch.float32, device=device.device)
    x = torch.as_tensor(x_np, device=device.device)
    y_t = torch.as_tensor(y, device=device.device)
    offsets = torch.arange(args.window, device=device.device)
    val_ends = subsample(splits['val'], args.eval_windows)
    test_ends = subsample(splits['test'], args.eval_windows)

    os.makedirs(args.out, exist_ok=True)
    config = {k: v for k, v in vars(args).items()}
    run = open_wandb(config)
    metrics_path = os.path.join(args.out, 'metrics.jsonl')
    metrics = open(metrics_path + '.tmp', 'w')
    pending = []  # (step, lr, seconds, loss tensor): fetched in groups so XLA is not synced every step
    t0 = time.time()
    last = {'val_loss': None, 'val_acc': None}
    history = []

    def flush(val=None):
        losses = torch.stack([p[3] for p in pending]).cpu().tolist() if pending else []
        for (step, lr, secs, _), loss in zip(pending, losses):
            row = {'step': step, 'train_loss': loss, 'val_loss': None, 'val_acc': None, 'lr': lr, 'seconds': round(secs, 3)}
            if val is not None and step == pending[-1][0]:
                row['val_loss'], row['val_acc'] = val
            history.append(row)
            metrics.write(json.dumps(row) + '\n')
            if run is not None:
                run.log({k: v for k, v in row.items() if v is not None and k != 'step'}, step=step)
        metrics.flush()
        pending.clear()

    model.train()
    train_ends = splits['train']
    for step in range(1, args.steps + 1):
        lr = lr_at(step - 1, args.steps, args.lr)
        for g in opt.param_groups:
            g['lr'] = lr
        e = torch.as_tensor(rng.choice(train_ends, size=args.batch), device=device.device)
        xb, yb = gather(x, y_t, e, args.window, offsets)
        loss = F.cross_entropy(model(xb), yb, weight=weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        device.step()
        pending.append((step, lr, time.time() - t0, loss.detach()))
        if step % args.eval_every == 0 or step == args.steps:
            val = evaluate(model, x, y_t, val_ends, args.window, offsets, device, args.eval_batch)
            last['val_loss'], last['val_acc'] = val
            flush(val)
            log(f'step {step}: train_loss {history[-1]["train_loss"]:.4f} val_loss {val[0]:.4f} val_acc {val[1]:.4f}')
        elif len(pending) >= args.log_every:
            flush()
    flush()
    metrics.close()
    os.replace(metrics_path + '.tmp', metrics_path)
    train_seconds = time.time() - t0
    test_loss, test_acc = evaluate(model, x, y_t, test_ends, args.window, offsets, device, args.eval_batch)

    # Export from a CPU copy: ONNX tracing and the reference logits never run on the accelerator
    cpu_model = LobMamba(n_features, args.d_model, args.d_state, args.layers, args.d_conv, args.expand, args.export_scan)
    cpu_model.load_state_dict({k: v.detach().cpu() for k, v in model.state_dict().items()})
    cpu_model.eval()
    onnx_path = os.path.join(args.out, 'model.onnx')
    export_onnx(cpu_model, onnx_path, args.window, n_features, args.opset)
    ref_ends = subsample(splits['test'], args.reference_windows)
    ref_x = np.stack([x_np[e - args.window + 1:e + 1] for e in ref_ends]).astype(np.float32)
    with torch.no_grad():
        ref_logits = cpu_model(torch.from_numpy(ref_x)).numpy().astype(np.float32)
    np.save(os.path.join(args.out, 'reference_input.npy'), ref_x)
    np.save(os.path.join(args.out, 'reference_logits.npy'), ref_logits)
    # Rows of the input file (before any dropped row), so a scorer can rebuild the same windows from the data
    np.save(os.path.join(args.out, 'reference_ends.npy'), kept[ref_ends].astype(np.int64))
    ort_diff = onnxruntime_diff(onnx_path, ref_x, ref_logits)

    def span(e):
        return {'windows': int(len(e)), 'first_us': int(ts[e[0] - args.window + 1]), 'last_us': int(ts[e[-1] + args.horizon]),
                'first': iso(ts[e[0] - args.window + 1]), 'last': iso(ts[e[-1] + args.horizon])}

    first5 = [r['train_loss'] for r in history[:5]]
    last5 = [r['train_loss'] for r in history[-5:]]
    val_majority = max(counts['val']) / max(1, sum(counts['val']))
    card = {
        'format': CARD_FORMAT,
        'version': 1,
        'created': datetime.now(timezone.utc).isoformat().replace('+00:00', 'Z'),
        'transform': FEATURE_TRANSFORM,
        'levels': levels,
        'window': args.window,
        'raw_columns': raw_columns(levels),
        'features': feature_names(levels),
        'normalization': {'mean': [float(v) for v in mean], 'std': [float(v) for v in std], 'rows': 'train split'},
        'labels': LABELS,
        'horizon': args.horizon,
        'horizon_unit': 'rows',
        'threshold_bps': args.threshold_bps,
        'sample_interval_us': interval or None,
        'input': {'name': INPUT_NAME, 'shape': ['batch', args.window, n_features], 'dtype': 'float32'},
        'output': {'name': OUTPUT_NAME, 'shape': ['batch', 3], 'dtype': 'float32'},
        'model': {'arch': 'mamba', 'd_model': args.d_model, 'd_state': args.d_state, 'd_conv': args.d_conv,
                  'expand': args.expand, 'layers': args.layers, 'head': 'last step',
                  'params': int(sum(p.numel() for p in cpu_model.parameters()))},
        'onnx': {'file': 'model.onnx', 'opset': args.opset, 'scan': args.export_scan, 'torch': torch.__version__,
                 'sha256': sha256_file(onnx_path).hexdigest(), 'onnxruntime_max_abs_diff': ort_diff},
        'data': {**info, 'rows': int(n), 'dropped_rows': info['input_rows'] - int(n),
                 'time_range': {'first_us': int(ts[0]), 'last_us': int(ts[-1]), 'first': iso(ts[0]), 'last': iso(ts[-1])},
                 'splits': {k: span(v) for k, v in splits.items()}, 'gap_rows': args.window + args.horizon,
                 'label_counts': counts},
        'training': {'steps': args.steps, 'batch': args.batch, 'lr': args.lr, 'weight_decay': args.weight_decay,
                     'seed': args.seed, 'device': device.kind, 'class_weights': args.class_weights,
                     'seconds': round(train_seconds, 2), 'wandb': run.url if run is not None else None},
        'metrics': {'train_loss_first5': float(np.mean(first5)), 'train_loss_last5': float(np.mean(last5)),
                    'val_loss': last['val_loss'], 'val_acc': last['val_acc'], 'val_majority_acc': val_majority,
                    'test_loss': test_loss, 'test_acc': test_acc},
        'reference': {'input': 'reference_input.npy', 'logits': 'reference_logits.npy', 'ends': 'reference_ends.npy'},
    }
    write_json(os.path.join(args.out, 'model.json'), card)
    if run is not None:
        run.summary.update({'test_loss': test_loss, 'test_acc': test_acc})
        run.finish()
    log(f'wrote {args.out}/model.onnx and model.json: test_loss {test_loss:.4f} test_acc {test_acc:.4f} '
        f'(train {train_seconds:.1f}s)')
    return card


# ---------------------------------------------------------------------------------------------------------------------
# Self-test and the transform entry point used by tests/ml
# ---------------------------------------------------------------------------------------------------------------------


def self_test():
    """Parallel scan == sequential scan (values and gradients), model outputs with either scan, ONNX export of both."""
    torch.manual_seed(0)
    report = {}
    worst = 0.0
    for shape in [(2, 64, 8, 4), (3, 37, 5, 3), (1, 1, 2, 2), (2, 100, 4, 16)]:
        for dtype in (torch.float32, torch.float64):
            a = (0.3 + 0.699 * torch.rand(shape, dtype=dtype)).requires_grad_()
            b = (0.1 * torch.randn(shape, dtype=dtype)).requires_grad_()
            hp, hs = scan_parallel(a, b), scan_sequential(a, b)
            w = torch.randn(shape, dtype=dtype)
            # With one step a_0 multiplies h_{-1} = 0, so the parallel graph does not use it: its gradient is 0
            gp = torch.autograd.grad((hp * w).sum(), (a, b), allow_unused=True)
            gs = torch.autograd.grad((hs * w).sum(), (a, b), allow_unused=True)
            zero = torch.zeros(shape, dtype=dtype)
            diff = max(float((hp - hs).abs().max()),
                       *(float(((zero if p is None else p) - (zero if s is None else s)).abs().max()) for p, s in zip(gp, gs)))
            worst = max(worst, diff)
    report['scan_max_abs_diff'] = worst
    model = LobMamba(10, d_model=16, d_state=4, layers=2).eval()
    # At initialisation delta is small and D = 1 carries the input past the SSM, which would hide a scan error
    with torch.no_grad():
        for block in model.blocks:
            block.D.zero_()
            block.dt_proj.bias.fill_(1.0)
    x = torch.randn(3, 24, 10)
    with torch.no_grad():
        out_p = model.set_scan('parallel')(x)
        out_s = model.set_scan('sequential')(x)
        seq_p = model.set_scan('parallel').sequence(x)
        seq_s = model.set_scan('sequential').sequence(x)
    report['model_max_abs_diff'] = max(float((out_p - out_s).abs().max()), float((seq_p - seq_s).abs().max()))
    with tempfile.TemporaryDirectory() as d:
        for scan in ('parallel', 'sequential'):
            path = os.path.join(d, f'{scan}.onnx')
            model.set_scan(scan)
            export_onnx(model, path, 24, 10, 17)
            report[f'onnx_{scan}_bytes'] = os.path.getsize(path)
            diff = onnxruntime_diff(path, x.numpy(), out_p.numpy())
            if diff is not None:
                report[f'onnx_{scan}_max_abs_diff'] = diff
    ok = report['scan_max_abs_diff'] < 1e-5 and report['model_max_abs_diff'] < 1e-5
    ok = ok and all(v < 1e-4 for k, v in report.items() if k.startswith('onnx_') and k.endswith('diff'))
    report['ok'] = ok
    print(json.dumps(report))
    return 0 if ok else 1


def write_features(args):
    """Writes the unnormalised feature rows of --data (float64 [rows, 4N+2]) to --features-out."""
    raw, _, _, levels, _ = load_data(args.data, args.npy, args.max_rows)
    np.save(args.features_out, lob_features(raw, levels))
    return 0


def parse_args(argv):
    p = argparse.ArgumentParser(description='Train a Mamba LOB direction classifier and export it to ONNX.')
    kaggle_out = '/kaggle/working/mercury-mamba'
    p.add_argument('--data', help='convert-lob output folder (shards + manifest.json, or npy/); on Kaggle defaults to '
                                  'the first attached dataset that holds one')
    p.add_argument('--out', default=kaggle_out if os.path.isdir('/kaggle/working') else None,
                   help=f'output folder (on Kaggle defaults to {kaggle_out})')
    p.add_argument('--window', type=int, default=64, help='rows per input window')
    p.add_argument('--horizon', type=int, default=10, help='label horizon in rows')
    p.add_argument('--threshold-bps', type=float, default=1.0, help='mid move (bps) beyond which the label is up/down')
    p.add_argument('--d-model', type=int, default=64)
    p.add_argument('--d-state', type=int, default=16)
    p.add_argument('--d-conv', type=int, default=4)
    p.add_argument('--expand', type=int, default=2)
    p.add_argument('--layers', type=int, default=2)
    p.add_argument('--steps', type=int, default=1000)
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument('--weight-decay', type=float, default=0.01)
    p.add_argument('--class-weights', choices=('none', 'balanced'), default='none')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--device', choices=('auto', 'cpu', 'cuda', 'xla'), default='auto')
    p.add_argument('--npy', action='store_true', help='read the npy export even when Parquet shards exist')
    p.add_argument('--max-rows', type=int, default=0, help='use only the first N rows (0: all)')
    p.add_argument('--eval-every', type=int, default=100)
    p.add_argument('--eval-windows', type=int, default=8192, help='validation/test windows evaluated (evenly spaced)')
    p.add_argument('--eval-batch', type=int, default=512)
    p.add_argument('--log-every', type=int, default=10, help='steps between metric flushes (XLA syncs there)')
    p.add_argument('--reference-windows', type=int, default=16, help='test windows saved with PyTorch logits')
    p.add_argument('--export-scan', choices=('parallel', 'sequential'), default='parallel')
    p.add_argument('--opset', type=int, default=17)
    p.add_argument('--threads', type=int, default=0, help='torch CPU threads (0: default)')
    p.add_argument('--self-test', action='store_true', help='check the scans and the ONNX export, then exit')
    p.add_argument('--features-out', help='write the unnormalised features of --data to this .npy and exit')
    args = p.parse_args(argv)
    if args.self_test:
        return args
    if not args.data:
        args.data = find_kaggle_data()
    if not args.out and not args.features_out:
        raise UsageError('--out is required (the folder model.onnx, model.json and metrics.jsonl go to)')
    for name in ('window', 'horizon', 'd_model', 'd_state', 'd_conv', 'expand', 'layers', 'steps', 'batch', 'eval_every'):
        if getattr(args, name) <= 0:
            raise UsageError(f'--{name.replace("_", "-")} must be a positive integer, was {getattr(args, name)}')
    if args.threshold_bps < 0 or args.lr <= 0:
        raise UsageError('--threshold-bps must be >= 0 and --lr > 0')
    if args.opset > 17 and torch.__version__.startswith('1.'):
        raise UsageError(f'--opset {args.opset}: torch {torch.__version__} exports opset 17 at most')
    return args


def find_kaggle_data():
    roots = [r for depth in ('*', '*/*', '*/*/*', '*/*/*/*') for r in sorted(glob.glob(f'/kaggle/input/{depth}'))]
    for root in roots:
        if os.path.isfile(os.path.join(root, 'manifest.json')) or npy_dir(root):
            log(f'--data not given: using {root}')
            return root
    raise UsageError('--data is required (a convert-lob output folder)')


def main(argv=None):
    try:
        if argv is None:
            argv = sys.argv[1:] or (KAGGLE_ARGS if os.environ.get('KAGGLE_KERNEL_RUN_TYPE') else [])
        args = parse_args(argv)
        if args.self_test:
            return self_test()
        if not os.path.isdir(args.data):
            raise UsageError(f'--data {args.data}: not a folder. Expected a convert-lob output folder')
        if args.features_out:
            return write_features(args)
        train(args)
        return 0
    except UsageError as e:
        log(str(e))
        return 2


if __name__ == '__main__':
    sys.exit(main())
