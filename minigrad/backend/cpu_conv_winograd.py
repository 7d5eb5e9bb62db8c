"""conv2d's Winograd path: F(2x2, 3x3) for 3 x 3 stride-1 convs with many channels.

Each 2 x 2 block of outputs (a tile) needs the 4 x 4 input patch under it. Lavin &
Gray (2016) compute it as Y = A^T [(G g G^T) * (B^T d B)] A: per tile and channel
pair that is 16 multiplies instead of 2 x 2 x 9 = 36, 2.25x fewer, and the
elementwise products summed over the input channels become 16 GEMMs,
M[e] = U[e] (n_c', n_c) @ V[e] (n_c, tiles), one per position e of the 4 x 4 tile:
- U = G g G^T, the transformed filters (tiny, numpy);
- V = B^T d B, the transformed input patches (Numba; each thread owns whole (n, c)
  channel planes of tiles, i.e. V[:, c, tiles of image n]);
- the 16 GEMMs are split over the threads by position e (each owns M[e]);
- Y = A^T m A (Numba; each thread owns whole output planes y[n, k]).
dW runs the same way backwards (``weight_grad_winograd``): dU[e] = (A dy A^T)[e] V[e]^T,
16 GEMMs over the tiles (each thread owns dU[e]), then dW = G^T dU G; dy's tiles are
transformed by threads owning whole (n, k) planes. dx is the forward of dy with the
flipped, transposed filter (see ``cpu_conv``). Padding may differ per side; tiles past
the output's edge read zeros and their extra outputs are dropped. The batch is
chunked under the workspace cap.

Why not F(4x4, 3x3) (36 multiplies for 16 outputs, 1.8x fewer than here): we built it
and its forward pass ran about 25% faster, but its transforms (points 0, +-1, +-2)
multiply rounding errors by up to 8: float32 results were off by 2-4e-5 on unit-scale
outputs, 10x PyTorch's error and outside torch.testing's default tolerance, where
F(2x2, 3x3) stays below PyTorch's own error (spec_tests/engine/test_winograd.py).
"""
import numpy as np
from numba import njit, prange

from .cpu_conv_workspace import Workspace, chunk
from .cpu_rows import copy_row
from .threads import matmul as _mm

# Below this many channels on either side the transforms cost more than the
# multiplies they save (e.g. an RGB input layer), so the GEMM paths stay faster.
MIN_CHANNELS = 16

_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])


# Below this many 2 x 2 output tiles in the batch the filter transform (16 values per
# filter, as many as the filters themselves) and GEMMs only that wide cost more than
# the multiplies saved: measured f+b, 512 channels at 7 x 7, batch 1 (16 tiles): 40 ms
# against 29 on the GEMM paths. Raised from 32 once the GEMM paths' large products ran
# on BLAS's own threads (threads.matmul), interleaved with PyTorch, medians (ms): 8 x 256
# x 4 x 4 (32 tiles) 24.3 here against 16.9 on im2col; 1 x 256 x 14 x 14 (49 tiles) 25.7
# against 10.8; ResNet-18 f+b, batch 8 at 64 x 64, 301 -> 280.
MIN_TILES = 128


def winograd_applies(w, stride, n_img, h_o, w_o):
    """Winograd for a 3 x 3 stride-1 conv with enough channels and enough output tiles."""
    c_out, n_ch, f_h, f_w = w.shape
    tiles = n_img * _tiling(h_o, w_o)[2]
    return ((f_h, f_w) == (3, 3) and tuple(stride) == (1, 1) and min(c_out, n_ch) >= MIN_CHANNELS
            and tiles >= MIN_TILES)


@njit(parallel=True, cache=True)
def _input_tiles(x, n0, n_b, v, t_h, t_w, p_t, p_l):
    n_ch, height, width = x.shape[1], x.shape[2], x.shape[3]
    tiles = t_h * t_w
    span = 2 * t_w + 2
    lo, hi = max(0, p_l), min(span, width + p_l)
    # Each thread owns the tiles of one (image, channel) plane: v[:, c, n's tiles].
    for t in prange(n_b * n_ch):
        n, c = t // n_ch, t % n_ch
        rows = np.zeros((4, span), x.dtype)  # the 4 input rows under a row of tiles, zero-padded
        r = np.empty((4, span), x.dtype)
        for a in range(t_h):
            for u in range(4):
                h = 2 * a + u - p_t
                if 0 <= h < height:
                    # Rows sliced first (cpu_rows says why), here and below.
                    copy_row(x[n0 + n, c, h, lo - p_l:hi - p_l], rows[u, lo:hi])
                else:
                    for q in range(lo, hi):
                        rows[u, q] = 0
            # B^T d first, down the columns, over whole padded rows at once (contiguous,
            # so it vectorises), with B^T = [[1,0,-1,0],[0,1,1,0],[0,-1,1,0],[0,1,0,-1]];
            # measured 20% faster than transforming the tiles' rows first.
            for q in range(span):
                d0, d1, d2, d3 = rows[0, q], rows[1, q], rows[2, q], rows[3, q]
                r[0, q] = d0 - d2
                r[1, q] = d1 + d2
                r[2, q] = d2 - d1
                r[3, q] = d1 - d3
            # Then (B^T d) B along the rows: 16 contiguous runs of this tile row.
            col0 = n * tiles + a * t_w
            for u in range(4):
                v0, v1 = v[4 * u, c, col0:col0 + t_w], v[4 * u + 1, c, col0:col0 + t_w]
                v2, v3 = v[4 * u + 2, c, col0:col0 + t_w], v[4 * u + 3, c, col0:col0 + t_w]
                for b in range(t_w):
                    e0, e1, e2, e3 = r[u, 2 * b], r[u, 2 * b + 1], r[u, 2 * b + 2], r[u, 2 * b + 3]
                    v0[b] = e0 - e2
                    v1[b] = e1 + e2
                    v2[b] = e2 - e1
                    v3[b] = e1 - e3


@njit(parallel=True, cache=True)
def _output_tiles(m, n0, n_b, y, t_h, t_w):
    c_out, h_o, w_o = y.shape[1], y.shape[2], y.shape[3]
    tiles = t_h * t_w
    # Each thread owns whole output planes y[n0 + n, k].
    for t in prange(n_b * c_out):
        n, k = t // c_out, t % c_out
        r = np.empty((2, 4, t_w), m.dtype)
        out = np.empty((2, 2 * t_w), m.dtype)
        for a in range(t_h):
            col0 = n * tiles + a * t_w
            # A^T m A with A^T = [[1,1,1,0],[0,1,-1,-1]]: rows first, then columns.
            for q in range(4):
                m0, m1 = m[q, k, col0:col0 + t_w], m[4 + q, k, col0:col0 + t_w]
                m2, m3 = m[8 + q, k, col0:col0 + t_w], m[12 + q, k, col0:col0 + t_w]
                for b in range(t_w):
                    r[0, q, b] = m0[b] + m1[b] + m2[b]
                    r[1, q, b] = m1[b] - m2[b] - m3[b]
            for i in range(2):
                for b in range(t_w):
                    out[i, 2 * b] = r[i, 0, b] + r[i, 1, b] + r[i, 2, b]
                    out[i, 2 * b + 1] = r[i, 1, b] - r[i, 2, b] - r[i, 3, b]
                if 2 * a + i < h_o:
                    copy_row(out[i, :w_o], y[n0 + n, k, 2 * a + i])


@njit(parallel=True, cache=True)
def _grad_tiles(gy, n0, n_b, dm, t_h, t_w):
    c_out, h_o, w_o = gy.shape[1], gy.shape[2], gy.shape[3]
    tiles = t_h * t_w
    # Each thread owns the tiles of one (image, output channel) plane: dm[:, k, n's tiles].
    for t in prange(n_b * c_out):
        n, k = t // c_out, t % c_out
        rows = np.zeros((2, 2 * t_w), gy.dtype)
        r = np.empty((2, 4, t_w), gy.dtype)
        for a in range(t_h):
            for i in range(2):
                rows[i, :] = 0
                if 2 * a + i < h_o:
                    copy_row(gy[n0 + n, k, 2 * a + i], rows[i, :w_o])
            # dy A^T (columns), then A (rows), with A = [[1,0],[1,1],[1,-1],[0,-1]].
            for i in range(2):
                for b in range(t_w):
                    e0, e1 = rows[i, 2 * b], rows[i, 2 * b + 1]
                    r[i, 0, b] = e0
                    r[i, 1, b] = e0 + e1
                    r[i, 2, b] = e0 - e1
                    r[i, 3, b] = -e1
            col0 = n * tiles + a * t_w
            for q in range(4):
                d0, d1 = dm[q, k, col0:col0 + t_w], dm[4 + q, k, col0:col0 + t_w]
                d2, d3 = dm[8 + q, k, col0:col0 + t_w], dm[12 + q, k, col0:col0 + t_w]
                for b in range(t_w):
                    d0[b] = r[0, q, b]
                    d1[b] = r[0, q, b] + r[1, q, b]
                    d2[b] = r[0, q, b] - r[1, q, b]
                    d3[b] = -r[1, q, b]


# G (x) G (16, 9): row 4 u + q, column 3 i + j holds G[u, i] G[q, j], so that G g G^T
# for every filter at once is one GEMM with the filters as columns (numpy's einsum
# over the same indices loops element by element: 12 ms for 128 x 128 filters, and
# 34 ms for dW's G^T dU G, against 0.5 ms as GEMMs).
_GG = np.kron(_G, _G)


# The 16 GEMMs run inside a Numba parallel loop (np.dot calls BLAS, held at one thread
# by kernel_call), not on the Python GEMM pool of ``threads``: right after a Numba
# parallel kernel, the pool's GEMMs ran up to 2x slower (measured 9.6 -> 15.4 ms for
# these 16 GEMMs on 2 cores under the workqueue layer), while Numba's own workers ran
# them at the same speed either way (10.6-10.8 ms).


@njit(parallel=True, cache=True)
def _products(u, v, m):
    # Each thread owns the products M[e] of its positions e.
    for e in prange(16):
        np.dot(u[e], v[e], m[e])


@njit(parallel=True, cache=True)
def _product_grads(dm, v, du):
    # Each thread owns dU[e] of its positions e.
    for e in prange(16):
        du[e] += np.dot(dm[e], v[e].T)


def _filter_transform(w):
    """U (16, n_c', n_c) = G g G^T for every filter g, position e = 4 u + q first."""
    c_out, n_ch = w.shape[0], w.shape[1]
    u = np.empty((16, c_out * n_ch), w.dtype)
    _mm(_GG.astype(w.dtype), np.ascontiguousarray(w.reshape(c_out * n_ch, 9).T), u)
    return u.reshape(16, c_out, n_ch)


def _filter_grad(du):
    """dW (n_c', n_c, 3, 3) = G^T dU G for every filter: the transpose of ``_filter_transform``."""
    c_out, n_ch = du.shape[1], du.shape[2]
    gw = np.empty((9, c_out * n_ch), du.dtype)
    _mm(np.ascontiguousarray(_GG.T, dtype=du.dtype), du.reshape(16, c_out * n_ch), gw)
    return np.ascontiguousarray(gw.T).reshape(c_out, n_ch, 3, 3)


def _tiling(h_o, w_o):
    t_h, t_w = (h_o + 1) // 2, (w_o + 1) // 2
    return t_h, t_w, t_h * t_w


def _tile_chunks(x, c_out, tiles, t_h, t_w, padding, second):
    """The batch in chunks under the workspace cap: yields (n0, nb, V of images n0..n0+nb-1,
    a second buffer, named ``second``, of shape (16, n_c', nb tiles))."""
    n_img, n_ch = x.shape[0], x.shape[1]
    with Workspace(x.dtype) as ws:
        n_b = chunk(16 * (n_ch + c_out) * tiles * x.itemsize, n_img)
        for n0 in range(0, n_img, n_b):
            nb = min(n_b, n_img - n0)
            v = ws.get("v", (16, n_ch, nb * tiles))
            _input_tiles(x, n0, nb, v, t_h, t_w, padding[0], padding[2])
            yield n0, nb, v, ws.get(second, (16, c_out, nb * tiles))


def forward_winograd(x, w, y, padding):
    """y = conv2d(x, w), 3 x 3 filter, stride 1, padding (p_t, p_b, p_l, p_r); no bias."""
    t_h, t_w, tiles = _tiling(y.shape[2], y.shape[3])
    u = _filter_transform(w)
    for n0, nb, v, m in _tile_chunks(x, y.shape[1], tiles, t_h, t_w, padding, "m"):
        _products(u, v, m)
        _output_tiles(m, n0, nb, y, t_h, t_w)


def weight_grad_winograd(gy, x, w_shape, padding):
    """dW of the Winograd forward: y = A^T (U * V) A with U = G g G^T gives
    dU[e] = sum over tiles of (A dy A^T)[e] V[e]^T (16 GEMMs, 2.25x fewer multiplies
    than dy @ cols^T), and dW = G^T dU G."""
    c_out, n_ch = w_shape[0], w_shape[1]
    t_h, t_w, tiles = _tiling(gy.shape[2], gy.shape[3])
    du = np.zeros((16, c_out, n_ch), x.dtype)
    for n0, nb, v, dm in _tile_chunks(x, c_out, tiles, t_h, t_w, padding, "dm"):
        _grad_tiles(gy, n0, nb, dm, t_h, t_w)
        _product_grads(dm, v, du)
    return _filter_grad(du)
