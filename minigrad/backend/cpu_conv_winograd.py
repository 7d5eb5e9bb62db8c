"""conv2d's Winograd path: F(2x2, 3x3) for 3 x 3 stride-1 convs with many channels.

Each 2 x 2 block of outputs (a tile) needs the 4 x 4 input patch under it. Lavin &
Gray (2016) compute it as Y = A^T [(G g G^T) * (B^T d B)] A: per tile and channel
pair that is 16 multiplies instead of 2 x 2 x 9 = 36, 2.25x fewer, and the
elementwise products summed over the input channels become 16 GEMMs,
M[e] = U[e] (n_c', n_c) @ V[e] (n_c, tiles), one per position e of the 4 x 4 tile:
- U = G g G^T, the transformed filters (two small GEMMs, numpy);
- V = B^T d B, the transformed input patches;
- M[e] = U[e] V[e], the 16 GEMMs (np.dot inside Numba, BLAS held at one thread);
- Y = A^T m A.
All but U run block by block (``_forward_blocks``): a block is a run of whole tile rows of
the batch (a tile row is the t_w tiles of 2 output rows of one image), sized so that its
V and M stay in cache (BLOCK_BYTES), and a thread takes the block from patches to
outputs before the next. Threads: each owns a contiguous range of blocks, their output
rows y[n, :, 2a:2a + 2], and its own V and M buffers.
dW runs the same way backwards (``_weight_grad_blocks``): per block V and dM = A dy A^T,
then dU[e] += dM[e] V[e]^T into the thread's own sum (the caller adds the threads'
sums), and dW = G^T dU G. dx is the forward of dy with the flipped, transposed filter
(see ``cpu_conv``). Padding may differ per side; tiles past the output's edge read zeros
and their extra outputs are dropped. Memory is the blocks' buffers (and dW's sums, one
(16, n_c', n_c) per thread, at most WEIGHT_GRAD_SUMS_BYTES in all), whatever the batch.

Why not F(4x4, 3x3) (36 multiplies for 16 outputs, 1.8x fewer than here): we built it
and its forward pass ran about 25% faster, but its transforms (points 0, +-1, +-2)
multiply rounding errors by up to 8: float32 results were off by 2-4e-5 on unit-scale
outputs, 10x PyTorch's error and outside torch.testing's default tolerance, where
F(2x2, 3x3) stays below PyTorch's own error (spec_tests/engine/test_winograd.py).
"""
import numpy as np
from numba import njit, prange

from .cpu_conv_workspace import Workspace
from .cpu_rows import copy_row
from .threads import matmul as _mm
from .threads import worker_count

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


@njit(inline="always")
def _input_row(x, n, c, a, p_t, p_l, rows, r, v, col0):
    """V[:, c, col0:col0 + t_w] = B^T d B for the tiles of tile row a of plane x[n, c]."""
    height, width = x.shape[2], x.shape[3]
    span = rows.shape[1]
    t_w = (span - 2) // 2
    lo, hi = max(0, p_l), min(span, width + p_l)
    for u in range(4):   # the 4 input rows under the tile row, zero-padded
        h = 2 * a + u - p_t
        if 0 <= h < height:
            # Rows sliced first (cpu_rows says why), here and below.
            copy_row(x[n, c, h, lo - p_l:hi - p_l], rows[u, lo:hi])
        else:
            for q in range(lo, hi):
                rows[u, q] = 0
    # B^T d first, down the columns, over whole padded rows at once (contiguous, so it
    # vectorises), with B^T = [[1,0,-1,0],[0,1,1,0],[0,-1,1,0],[0,1,0,-1]]; measured 20%
    # faster than transforming the tiles' rows first.
    for q in range(span):
        d0, d1, d2, d3 = rows[0, q], rows[1, q], rows[2, q], rows[3, q]
        r[0, q] = d0 - d2
        r[1, q] = d1 + d2
        r[2, q] = d2 - d1
        r[3, q] = d1 - d3
    # Then (B^T d) B along the rows: 16 contiguous runs of this tile row.
    for u in range(4):
        v0, v1 = v[4 * u, c, col0:col0 + t_w], v[4 * u + 1, c, col0:col0 + t_w]
        v2, v3 = v[4 * u + 2, c, col0:col0 + t_w], v[4 * u + 3, c, col0:col0 + t_w]
        for b in range(t_w):
            e0, e1, e2, e3 = r[u, 2 * b], r[u, 2 * b + 1], r[u, 2 * b + 2], r[u, 2 * b + 3]
            v0[b] = e0 - e2
            v1[b] = e1 + e2
            v2[b] = e2 - e1
            v3[b] = e1 - e3


@njit(inline="always")
def _output_block(m, k, g0, g1, t_h, y, r, even, odd):
    """y[n, k, 2a:2a + 2, :] = A^T m A for the tiles of tile rows g0 .. g1 - 1 (g = n t_h + a),
    whose products are m[:, k, :], tile row after tile row (rows past the output dropped)."""
    h_o, w_o = y.shape[2], y.shape[3]
    t_w = (w_o + 1) // 2
    nt = (g1 - g0) * t_w
    # A^T m A with A^T = [[1,1,1,0],[0,1,-1,-1]]: down the columns first, then along the
    # rows, each over the whole block at once: runs of nt numbers that vectorise, where
    # one tile row's t_w (14 at 28 x 28) mostly ran as scalar remainders. Measured through
    # F.conv2d (medians, interleaved with PyTorch): 16 x 128 x 28 x 28 -> 128 forward 29.8
    # -> 27.2 ms, f+b 90.9 -> 84.8; 8 x 64 x 56 x 56 -> 64 forward 20.1 -> 18.1.
    for q in range(4):
        m0, m1, m2, m3 = m[q, k, :nt], m[4 + q, k, :nt], m[8 + q, k, :nt], m[12 + q, k, :nt]
        r0, r1 = r[0, q, :nt], r[1, q, :nt]
        for t in range(nt):
            r0[t] = m0[t] + m1[t] + m2[t]
            r1[t] = m1[t] - m2[t] - m3[t]
    e, o = even[:nt], odd[:nt]
    for i in range(2):
        r0, r1, r2, r3 = r[i, 0, :nt], r[i, 1, :nt], r[i, 2, :nt], r[i, 3, :nt]
        for t in range(nt):
            e[t] = r0[t] + r1[t] + r2[t]
            o[t] = r1[t] - r2[t] - r3[t]
        # Then each tile's 2 outputs of this row into place: even and odd columns.
        for g in range(g0, g1):
            a = g % t_h
            if 2 * a + i < h_o:
                row = y[g // t_h, k, 2 * a + i]
                col0 = (g - g0) * t_w
                for b in range(w_o // 2):
                    row[2 * b] = e[col0 + b]
                    row[2 * b + 1] = o[col0 + b]
                if w_o % 2:
                    row[w_o - 1] = e[col0 + t_w - 1]


@njit(inline="always")
def _grad_row(gy, n, k, a, rows, r, dm, col0):
    """dM[:, k, col0:col0 + t_w] = A dy A^T for the tiles of tile row a of plane dy[n, k]."""
    h_o, w_o = gy.shape[2], gy.shape[3]
    t_w = r.shape[2]
    for i in range(2):
        rows[i, :] = 0
        if 2 * a + i < h_o:
            copy_row(gy[n, k, 2 * a + i], rows[i, :w_o])
    # dy A^T (columns), then A (rows), with A = [[1,0],[1,1],[1,-1],[0,-1]].
    for i in range(2):
        for b in range(t_w):
            e0, e1 = rows[i, 2 * b], rows[i, 2 * b + 1]
            r[i, 0, b] = e0
            r[i, 1, b] = e0 + e1
            r[i, 2, b] = e0 - e1
            r[i, 3, b] = -e1
    for q in range(4):
        d0, d1 = dm[q, k, col0:col0 + t_w], dm[4 + q, k, col0:col0 + t_w]
        d2, d3 = dm[8 + q, k, col0:col0 + t_w], dm[12 + q, k, col0:col0 + t_w]
        for b in range(t_w):
            d0[b] = r[0, q, b]
            d1[b] = r[0, q, b] + r[1, q, b]
            d2[b] = r[0, q, b] - r[1, q, b]
            d3[b] = -r[1, q, b]


@njit(inline="always")
def _block_inputs(x, blk, block_rows, t_h, p_t, p_l, rows, r_in, v_flat):
    """Block ``blk``'s tile rows g0 .. g1 - 1, its width nt (tiles) and its V = B^T d B,
    made in ``v_flat``, one thread's buffer: (g0, g1, nt, V of shape (16, n_c, nt))."""
    n_ch = x.shape[1]
    t_w = (rows.shape[1] - 2) // 2
    g0 = blk * block_rows
    g1 = min(x.shape[0] * t_h, g0 + block_rows)
    nt = (g1 - g0) * t_w
    v = v_flat[:16 * n_ch * nt].reshape(16, n_ch, nt)
    for c in range(n_ch):
        for g in range(g0, g1):
            _input_row(x, g // t_h, c, g % t_h, p_t, p_l, rows, r_in, v, (g - g0) * t_w)
    return g0, g1, nt, v


@njit(inline="always")
def _plan(n_img, t_h, w_o, block_rows):
    """What both block kernels start from: (tiles per tile row t_w, blocks in the batch)."""
    return (w_o + 1) // 2, -(-n_img * t_h // block_rows)


@njit(inline="always")
def _input_scratch(t_w, dtype):
    """A thread's scratch for _input_row: the 4 zero-padded input rows and B^T d of them."""
    return np.zeros((4, 2 * t_w + 2), dtype), np.empty((4, 2 * t_w + 2), dtype)


@njit(parallel=True, cache=True)
def _forward_blocks(x, u, y, t_h, p_t, p_l, block_rows, v_parts, m_parts):
    """The forward pass block by block: a block is ``block_rows`` consecutive tile rows of
    the batch (numbered n t_h + a). Its V = B^T d B, the 16 GEMMs M[e] = U[e] V[e] and
    y = A^T M A run one after another in the thread's own buffers, which stay in cache.
    Each thread owns a contiguous range of blocks, with their output rows y[n, :, 2a:2a + 2],
    and slot p of v_parts and m_parts; np.dot calls BLAS, held at one thread (kernel_call)."""
    c_out = y.shape[1]
    parts = v_parts.shape[0]
    t_w, blocks = _plan(x.shape[0], t_h, y.shape[3], block_rows)
    for p in prange(parts):
        rows, r_in = _input_scratch(t_w, x.dtype)
        block_tiles = block_rows * t_w
        r_out = np.empty((2, 4, block_tiles), x.dtype)
        even = np.empty(block_tiles, x.dtype)
        odd = np.empty(block_tiles, x.dtype)
        for blk in range(blocks * p // parts, blocks * (p + 1) // parts):
            g0, g1, nt, v = _block_inputs(x, blk, block_rows, t_h, p_t, p_l, rows, r_in, v_parts[p])
            m = m_parts[p, :16 * c_out * nt].reshape(16, c_out, nt)
            for e in range(16):
                np.dot(u[e], v[e], m[e])
            for k in range(c_out):
                _output_block(m, k, g0, g1, t_h, y, r_out, even, odd)


@njit(parallel=True, cache=True)
def _weight_grad_blocks(gy, x, t_h, p_t, p_l, block_rows, v_parts, dm_parts, du_parts):
    """dU = sum over tiles of (A dy A^T)[e] V[e]^T, block by block as in ``_forward_blocks``.
    Each thread owns a contiguous range of blocks, slot p of the buffers and its own sum
    du_parts[p]; the caller adds the threads' sums."""
    n_ch, c_out = x.shape[1], gy.shape[1]
    parts = v_parts.shape[0]
    t_w, blocks = _plan(x.shape[0], t_h, gy.shape[3], block_rows)
    for p in prange(parts):
        rows, r_in = _input_scratch(t_w, x.dtype)
        grad_rows = np.empty((2, 2 * t_w), x.dtype)   # not ``rows``: its padding columns must stay 0
        r_grad = np.empty((2, 4, t_w), x.dtype)
        product = np.empty((c_out, n_ch), x.dtype)
        du = du_parts[p]
        du[:] = 0
        for blk in range(blocks * p // parts, blocks * (p + 1) // parts):
            g0, g1, nt, v = _block_inputs(x, blk, block_rows, t_h, p_t, p_l, rows, r_in, v_parts[p])
            dm = dm_parts[p, :16 * c_out * nt].reshape(16, c_out, nt)
            for k in range(c_out):
                for g in range(g0, g1):
                    _grad_row(gy, g // t_h, k, g % t_h, grad_rows, r_grad, dm, (g - g0) * t_w)
            for e in range(16):
                np.dot(dm[e], v[e].T, product)
                du[e] += product


# G (x) G (16, 9): row 4 u + q, column 3 i + j holds G[u, i] G[q, j], so that G g G^T
# for every filter at once is one GEMM with the filters as columns (numpy's einsum
# over the same indices loops element by element: 12 ms for 128 x 128 filters, and
# 34 ms for dW's G^T dU G, against 0.5 ms as GEMMs).
_GG = np.kron(_G, _G)


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


# A block's V and M (or dM), 16 (n_c + n_c') numbers per tile, are kept near this size,
# within L2 and the L3 share of a core, and at least MIN_BLOCK_TILES tiles wide for the
# GEMMs. Measured on the kernels, 16 x 128 x 28 x 28 -> 128, interleaved with PyTorch
# (medians, ms): the forward pass took 29.1 in blocks of 1 MB (64 tiles), 34.1 in 4 MB,
# 37.6 in 16 MB, and 39.1 in the earlier whole-chunk passes (V and M 26 MB each; PyTorch
# 34.6). dW, whose GEMMs sum over the block's tiles and so want wider blocks, took 38.2
# in 1 MB, 34.6 in 4 MB, 37.0 in 16 MB and 40.2 before (PyTorch 52.0).
BLOCK_BYTES = 1 << 20
WEIGHT_GRAD_BLOCK_BYTES = 4 << 20
MIN_BLOCK_TILES = 32
# dW keeps one dU sum, (16, n_c', n_c), per thread: fewer threads take dW's blocks where
# all the sums would pass this (16 MB a thread for 512 x 512 channels in float32; on 2
# cores it never binds below 1024 channels).
WEIGHT_GRAD_SUMS_BYTES = 256 << 20


def _blocks(n_ch, c_out, t_h, t_w, n_img, itemsize, block_bytes):
    """(tile rows per block, tiles per block, threads): blocks of whole tile rows."""
    target = max(MIN_BLOCK_TILES, block_bytes // (16 * (n_ch + c_out) * itemsize))
    block_rows = max(1, min(n_img * t_h, target // t_w))
    parts = max(1, min(worker_count(), -(-n_img * t_h // block_rows)))
    return block_rows, block_rows * t_w, parts


def forward_winograd(x, w, y, padding):
    """y = conv2d(x, w), 3 x 3 filter, stride 1, padding (p_t, p_b, p_l, p_r); no bias."""
    n_img, n_ch = x.shape[0], x.shape[1]
    c_out = y.shape[1]
    t_h, t_w, _ = _tiling(y.shape[2], y.shape[3])
    u = _filter_transform(w)
    block_rows, block_tiles, parts = _blocks(n_ch, c_out, t_h, t_w, n_img, x.itemsize, BLOCK_BYTES)
    with Workspace(x.dtype) as ws:
        v = ws.get("winograd_v", (parts, 16 * n_ch * block_tiles))
        m = ws.get("winograd_m", (parts, 16 * c_out * block_tiles))
        _forward_blocks(x, u, y, t_h, padding[0], padding[2], block_rows, v, m)


def weight_grad_winograd(gy, x, w_shape, padding):
    """dW of the Winograd forward: y = A^T (U * V) A with U = G g G^T gives
    dU[e] = sum over tiles of (A dy A^T)[e] V[e]^T (16 GEMMs, 2.25x fewer multiplies
    than dy @ cols^T), and dW = G^T dU G."""
    c_out, n_ch = w_shape[0], w_shape[1]
    n_img = x.shape[0]
    t_h, t_w, _ = _tiling(gy.shape[2], gy.shape[3])
    block_rows, block_tiles, parts = _blocks(n_ch, c_out, t_h, t_w, n_img, x.itemsize, WEIGHT_GRAD_BLOCK_BYTES)
    parts = max(1, min(parts, WEIGHT_GRAD_SUMS_BYTES // (16 * c_out * n_ch * x.itemsize)))
    with Workspace(x.dtype) as ws:
        v = ws.get("winograd_v", (parts, 16 * n_ch * block_tiles))
        dm = ws.get("winograd_m", (parts, 16 * c_out * block_tiles))
        du = ws.get("winograd_du", (parts, 16, c_out, n_ch))
        _weight_grad_blocks(gy, x, t_h, padding[0], padding[2], block_rows, v, dm, du)
        total = du.sum(axis=0)
    return _filter_grad(total)
