"""Direct convolution for one input channel: the Numba backend's first-layer kernels.

What.  conv2d's forward pass (with the bias) and its weight gradient (with the bias
gradient) for x: (N, 1, H, W), w: (F, 1, k, k), computed straight from the padded
image, without im2col and without BLAS.  numba_conv.py dispatches here for the shapes
where this wins (`use_direct`); the maths is numpy_conv.py's:

    out[n, f, i, j] = b[f] + Σ_{u,v} w[f, 0, u, v] · x_pad[n, i·s + u, j·s + v]
    dw[f, 0, u, v]  = Σ_{n,i,j} dy[n, f, i, j] · x_pad[n, i·s + u, j·s + v]
    db[f]           = Σ_{n,i,j} dy[n, f, i, j]

Why.  With one input channel im2col copies each pixel k²/s² times (9× for the dual
VAE's first layer, k = 6, s = 2) to feed a product only k² = 36 deep, which BLAS runs
far from its speed; the whole layer is data movement.  Here every input value is read
from L1 where it lies, and the k² multiply-adds of each output are done in registers.

Layout.  Flat 1-D buffers, indexed by hand:
    x_pad   (N, H + 2p, Wp)        zero-padded copy, written by the forward kernel and
                                   kept in the cache for the weight gradient; Wp ≥ W + 2p
                                   gives the last block of a row its columns (_row_sizes)
    wt      (k·k, F)               wt[u·k + v, f] = w[f, 0, u, v]: taps outer, channels inner
    tiles   (N, nblk·P, F)         one output row, channels last, then copied out to NCHW
    dyt     (N, Ho, nblk·P, F)     dy channels last, zero past Wo
    dw_part (G, k·k, F)            one partial weight gradient per group of images
The innermost loop runs over the F output channels (contiguous in wt, tile and dyt:
16 channels for the reference model, two 256-bit registers of float32); its body holds
P output pixels (forward) or the P pixels' dy (weight gradient) in scalars and writes
the k² taps out one by one, so that LLVM vectorises it over f with the sums in
registers.  That body is generated as Python source per (k, s, F) — the strides and
every offset are then constants of the compiled code — written to a file (Numba's
on-disk cache needs a source file) and compiled with `cache=True` like every kernel.

Two traps that keep the loop scalar (docs/performance.md has the figures):
* signed indices: Numba wraps negative indices (`if i < 0: i += n`) on every signed
  index, and that branch stops LLVM's vectoriser; every index here is uint64 (loop
  variables of `range(uint64)`, uint64 constants; never mix in an int64, which NumPy's
  rules would turn into float64).  Plain 4-D indexing failed with "too many memory
  checks".
* more than about 200 loads in the vectorised body: it stays scalar.  P is chosen so
  that k²·(P + 1) + P stays under 190.
LLVM's missed-optimisation remarks (through llvmlite) say why a loop stayed scalar;
the assembly (`kernels(k, s, F).forward.inspect_asm(sig)`, with the cache off) shows
whether it did: packed `vmulps`/`vaddps` on ymm registers.  Without fastmath LLVM
does not fuse them into FMAs, and it prefers 256-bit vectors on this CPU: 8 float32
lanes, two passes over 16 channels.

Threads.  `prange` over the images (forward) or the groups (weight gradient), as in
numba_conv.py, on Numba's own threads.  (A pool of Python threads running serial
kernels compiles faster but fights Numba's spinning threads for the cores in a
training epoch; docs/performance.md.)

Determinism.  The forward pass is per image, each output summed in a fixed order.  The
weight gradient splits the batch into G = min(N, 8) fixed groups of consecutive images
(a partition that depends on N only), sums each group's partial in image order, and
adds the G partials in group order: the same bits with any number of threads.
fastmath stays off.
"""

import functools
import hashlib
import importlib.util
import os
import sys
import tempfile
import numpy as np

GROUPS = 8               # partial weight gradients, whatever the thread count
MAX_LOADS = 190          # loads per vectorised loop body (the second trap)


def pixels_per_block(k):
    """P, the output pixels per loop body: k²·(P + 1) + P loads at most MAX_LOADS, 1 to 4."""
    return int(max(1, min(4, (MAX_LOADS - k * k) // (k * k + 1))))


def use_direct(C, F, k):
    """Whether numba_conv dispatches conv2d here: one input channel, at least 16 output
    channels (two vector registers of float32) and at least 3 pixels per block (k ≤ 6).
    Measured against im2col + BLAS on 32 images of 60×60, float32, 2 threads (with the
    kernels run by Python threads; docs/performance.md, "Direct convolution for the
    first layer"): the direct kernels lost at 4 and 8 channels and, with k = 8 (P = 1),
    in the weight gradient."""
    return C == 1 and F >= 16 and pixels_per_block(k) >= 3


# --- source generation -----------------------------------------------------------------

def _u(c):
    return f"np.uint64({int(c)})"


def _source(k, s, F, P):
    """The module text of the kernels for kernel size k, stride s, F output channels
    and P pixels per block.  `forward_range` and `weight_grad_range` hold the unrolled
    loops, serial over a range of images or of groups of images; `forward` and
    `weight_grad` run them in parallel, one image or group per `prange` iteration.
    Every index and size is uint64."""
    L = [
        '"""Generated by vae_from_scratch/backend/numba_direct.py; do not edit."""',
        "import numpy as np",
        "from numba import njit, prange",
        "",
        "SERIAL = dict(cache=True, fastmath=False, nogil=True)",
        "PARALLEL = dict(parallel=True, cache=True, fastmath=False, nogil=True)",
        f"F = {_u(F)}",
        f"P = {_u(P)}",
        "",
    ]
    rows = [f"            q{u} = r + {_u(u)} * Wp + jb * {_u(P * s)}" for u in range(k)]

    # forward: one image: pad, correlate row by row into the tile, copy it out to NCHW
    L += ["@njit(**SERIAL)",
          "def forward_range(x, xp, wt, b, tiles, out, n0, n1, H, W, pad, Ho, Wo, Wp, nblk):",
          "  for n in range(n0, n1):",
          "    xb = n * (H + pad + pad) * Wp",
          "    for t in range((H + pad + pad) * Wp):",
          "        xp[xb + t] = 0.0",
          "    for y in range(H):",
          "        src = (n * H + y) * W",
          "        dst = xb + (y + pad) * Wp + pad",
          "        for c in range(W):",
          "            xp[dst + c] = x[src + c]",
          "    ob = n * F * Ho * Wo",
          "    tb0 = n * nblk * P * F",
          "    for i in range(Ho):",
          f"        r = xb + i * {_u(s)} * Wp",
          "        for jb in range(nblk):"]
    L += rows
    L += ["            tb = tb0 + jb * P * F",
          "            for f in range(F):",
          "                bf = b[f]"]
    L += [f"                a{p} = bf" for p in range(P)]
    for u in range(k):
        for v in range(k):
            L.append(f"                w = wt[f + {_u((u * k + v) * F)}]")
            L += [f"                a{p} += w * xp[q{u} + {_u(v + p * s)}]" for p in range(P)]
    L += [f"                tiles[tb + {_u(p * F)} + f] = a{p}" for p in range(P)]
    L += ["        for f in range(F):",
          "            o = ob + (f * Ho + i) * Wo",
          "            for j in range(Wo):",
          "                out[o + j] = tiles[tb0 + j * F + f]",
          "",
          ""]

    # weight gradient: one group of consecutive images, into its own partial dw and db
    L += ["@njit(**SERIAL)",
          "def weight_grad_range(dy, xp, dyt, dwp, dbp, g0, g1, N, G, Hp, Ho, Wo, Wp, nblk):",
          "  for grp in range(g0, g1):",
          f"    wb = grp * {_u(k * k * F)}",
          "    gb = grp * F",
          f"    for t in range({_u(k * k * F)}):",
          "        dwp[wb + t] = 0.0",
          "    for f in range(F):",
          "        dbp[gb + f] = 0.0",
          "    Wq = nblk * P",
          "    for n in range(grp * N // G, (grp + np.uint64(1)) * N // G):",
          "        xb = n * Hp * Wp",
          "        db0 = n * F * Ho * Wo",
          "        tb0 = n * Ho * Wq * F",
          "        for f in range(F):",
          "            for i in range(Ho):",
          "                for j in range(Wo):",
          "                    dyt[tb0 + (i * Wq + j) * F + f] = dy[db0 + (f * Ho + i) * Wo + j]",
          "                for j in range(Wo, Wq):",
          "                    dyt[tb0 + (i * Wq + j) * F + f] = 0.0",
          "        for i in range(Ho):",
          f"            r = xb + i * {_u(s)} * Wp",
          "            for jb in range(nblk):"]
    L += ["    " + line for line in rows]
    L += ["                tb = tb0 + (i * Wq + jb * P) * F",
          "                for f in range(F):"]
    ind = "                    "
    L += [f"{ind}d{p} = dyt[tb + {_u(p * F)} + f]" for p in range(P)]
    L.append(f"{ind}g = dbp[gb + f]")
    L += [f"{ind}g += d{p}" for p in range(P)]
    L.append(f"{ind}dbp[gb + f] = g")
    for u in range(k):
        for v in range(k):
            at = _u((u * k + v) * F)
            L.append(f"{ind}a = dwp[wb + {at} + f]")
            L += [f"{ind}a += d{p} * xp[q{u} + {_u(v + p * s)}]" for p in range(P)]
            L.append(f"{ind}dwp[wb + {at} + f] = a")
    L += ["",
          "",
          "@njit(**PARALLEL)",
          "def forward(x, xp, wt, b, tiles, out, N, H, W, pad, Ho, Wo, Wp, nblk):",
          "    for n in prange(N):",
          "        forward_range(x, xp, wt, b, tiles, out, np.uint64(n), np.uint64(n + 1),",
          "                      H, W, pad, Ho, Wo, Wp, nblk)",
          "",
          "",
          "@njit(**PARALLEL)",
          "def weight_grad(dy, xp, dyt, dwp, dbp, N, G, Hp, Ho, Wo, Wp, nblk):",
          "    for g in prange(G):",
          "        weight_grad_range(dy, xp, dyt, dwp, dbp, np.uint64(g), np.uint64(g + 1),",
          "                          np.uint64(N), np.uint64(G), Hp, Ho, Wo, Wp, nblk)",
          ""]
    return "\n".join(L) + "\n"


def _source_dir():
    """Where the generated modules live: next to this file (__pycache__), else in the
    temporary directory when the package is not writable."""
    for base in (os.path.join(os.path.dirname(os.path.abspath(__file__)), "__pycache__"),
                 tempfile.gettempdir()):
        path = os.path.join(base, "vae_numba_direct")
        try:
            os.makedirs(path, exist_ok=True)
            if os.access(path, os.W_OK):
                return path
        except OSError:
            continue
    raise OSError("no writable directory for the generated kernels")


@functools.lru_cache(maxsize=None)
def kernels(k, s, F):
    """The generated module for (k, s, F): its `forward` and `weight_grad`.  The file is
    rewritten only when its text changes, so that Numba's cache (keyed on the file's
    time stamp) stays valid from one process to the next."""
    text = _source(k, s, F, pixels_per_block(k))
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    name = f"direct_k{k}_s{s}_f{F}_{digest}"
    path = os.path.join(_source_dir(), name + ".py")
    if not os.path.exists(path):
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)                     # atomic: another process may race us
    spec = importlib.util.spec_from_file_location(f"vae_from_scratch._numba_direct.{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# --- what numba_conv calls ---------------------------------------------------------------

class PaddedInput:
    """The forward pass's cache entry in place of the cols: the zero-padded input
    (flat) and the sizes the weight gradient needs."""

    __slots__ = ("x_pad", "H", "W", "Ho", "Wo")

    def __init__(self, x_pad, H, W, Ho, Wo):
        self.x_pad, self.H, self.W, self.Ho, self.Wo = x_pad, H, W, Ho, Wo


def _row_sizes(W, k, s, p):
    """Wo, blocks per row and the padded row length Wp: the row is cut into blocks of P
    output pixels, the last one completed with pixels past Wo, whose inputs are extra
    zero columns on the right of x_pad (so that every block is the unrolled body: no
    second, remainder body to compile)."""
    P = pixels_per_block(k)
    Wo = (W + 2 * p - k) // s + 1
    nblk = -(-Wo // P)
    return Wo, nblk, max(W + 2 * p, (nblk * P - 1) * s + k)


def conv2d_forward(x, w, b, s, p):
    """x: (N, 1, H, W), w: (F, 1, k, k), b: (F,) -> out: (N, F, Ho, Wo), PaddedInput."""
    N, _, H, W = x.shape
    F, _, k, _ = w.shape
    Ho = (H + 2 * p - k) // s + 1
    Wo, nblk, Wp = _row_sizes(W, k, s, p)
    dtype = x.dtype
    x_pad = np.empty(N * (H + 2 * p) * Wp, dtype)
    wt = np.ascontiguousarray(w.reshape(F, k * k).T, dtype=dtype)
    tiles = np.empty(N * nblk * pixels_per_block(k) * F, dtype)
    out = np.empty((N, F, Ho, Wo), dtype)
    u = np.uint64
    kernels(k, s, F).forward(np.ascontiguousarray(x).reshape(-1), x_pad, wt.reshape(-1),
                             np.ascontiguousarray(b, dtype=dtype), tiles, out.reshape(-1),
                             N, u(H), u(W), u(p), u(Ho), u(Wo), u(Wp), u(nblk))
    return out, PaddedInput(x_pad, H, W, Ho, Wo)


def conv2d_weight_grad(dout, padded, w_shape, s, p):
    """dout: (N, F, Ho, Wo), the forward's PaddedInput -> (dw: w_shape, db: (F,))."""
    N, F, Ho, Wo = dout.shape
    k = w_shape[2]
    _, nblk, Wp = _row_sizes(padded.W, k, s, p)
    dtype = dout.dtype
    G = min(N, GROUPS)
    dyt = np.empty(N * Ho * nblk * pixels_per_block(k) * F, dtype)
    dw_part = np.empty((G, k * k, F), dtype)
    db_part = np.empty((G, F), dtype)
    u = np.uint64
    kernels(k, s, F).weight_grad(np.ascontiguousarray(dout).reshape(-1), padded.x_pad, dyt,
                                 dw_part.reshape(-1), db_part.reshape(-1),
                                 N, G, u(padded.H + 2 * p), u(Ho), u(Wo), u(Wp), u(nblk))
    dw, db = dw_part[0].copy(), db_part[0].copy()
    for g in range(1, G):                           # in group order: the same bits every time
        dw += dw_part[g]
        db += db_part[g]
    return np.ascontiguousarray(dw.T).reshape(w_shape), db


__all__ = ["use_direct", "kernels", "conv2d_forward", "conv2d_weight_grad", "PaddedInput"]
