"""2-D convolution on the CPU: picks one path per call by shape; the paths live one per file.

Course notation: an input of n_c channels and n x n pixels, a filter of f x f,
padding p and stride s give an output of floor((n + 2p - f) / s) + 1 pixels per
side (here the padding may differ per side, so 2p becomes p_top + p_bottom).

Path selection, in this order (each path's file says what each thread owns):
- pointwise (``cpu_conv_pointwise``; 1 x 1, stride 1, no padding): x already is its own
  im2col; one GEMM per image, the images shared out over the threads.
- Winograd F(2x2, 3x3) (``cpu_conv_winograd``; 3 x 3, stride 1, >= 16 channels in and
  out, >= 128 output tiles in the batch; where the direct path also applies, only from
  64 channels and 512 tiles): 2.25x fewer multiplies than any GEMM path, for the
  forward pass, dx and dW.
- direct (``cpu_conv_direct``; f > 1, >= 8 filters and channels, >= 256 output pixels
  in the batch, windows of n_c f_h f_w >= 128 numbers): each output one dot product
  along its whole window, stacked per output row, in a 4 x 3 register tile; no im2col
  and no BLAS; any stride for the forward pass, dW for stride 1. It is what the 5 x 5
  layers with 16-32 filters needed: OpenBLAS runs such skinny GEMMs at under half the
  machine's peak.
- taps (``cpu_conv_taps``; forward only, stride 1, f > 1, < 8 channels, a padded image
  of <= 64k numbers, and a filter bank under TAPS_UNDER_GEMM_WEIGHTS numbers or no
  per-image GEMM): the conv as a sum of shifted copies of the padded plane, one per
  filter tap; LeNet-5's convs, an RGB net's first conv. Where such a layer's windows
  are long enough for the direct path's dot products (``windows_fit``), its forward
  kernel runs instead (LeNet-5's second conv).
- shift-add (``cpu_conv_shifted``; stride 1, n_c' <= n_c, >= 1024 padded pixels in the
  batch): GEMMs on the padded input itself.
- per-image (``cpu_conv_per_image``; stride 1, one image's columns <= 2 MB and <= 1024
  rows): runs of images split over the threads, small GEMMs that stay in cache.
- im2col (``cpu_conv_im2col``): everything else; one large GEMM per batch chunk.
The input gradient of a stride-1 conv with n_c' < n_c, or whose transposed conv runs on
Winograd or the direct path, is the forward conv of dy with the flipped, transposed
filter (so it takes the paths above again). Workspace memory is capped per call
(``cpu_conv_workspace``).
"""
import numpy as np

from ..sizes import output_size
from .cpu_conv_direct import direct_applies, forward_direct, weight_grad_direct, windows_fit
from .cpu_conv_im2col import backward_im2col, forward_im2col
from .cpu_conv_pointwise import backward_pointwise, forward_pointwise, is_pointwise
from .cpu_conv_per_image import backward_groups, forward_groups, per_image_parts
from .cpu_conv_taps import forward_taps, taps_applies
from .cpu_conv_shifted import forward_shifted, shifted_is_cheaper, weight_grad_shifted
from .cpu_conv_winograd import forward_winograd, weight_grad_winograd, winograd_applies
from .threads import kernel_call


def _geometry(x, w, stride, padding):
    n_img, n_ch, height, width = x.shape
    c_out, c_in, f_h, f_w = w.shape
    assert c_in == n_ch, "conv2d: channel mismatch (the op should have caught it)"
    s_h, s_w = int(stride[0]), int(stride[1])
    p_t, p_b, p_l, p_r = (int(v) for v in padding)
    h_o = output_size(height, f_h, (p_t, p_b), s_h)
    w_o = output_size(width, f_w, (p_l, p_r), s_w)
    return n_img, c_out, n_ch * f_h * f_w, h_o, w_o, (f_h, f_w, s_h, s_w, p_t, p_l)


def _transposed_is_cheaper(w, stride, padding, x_shape):
    """Stride 1 with fewer output than input channels: dx as a convolution of dy
    (shift-add or an im2col of n_c' f^2 < n_c f^2 rows) beats col2im. Measured: with
    n_c' >= n_c col2im stays faster, unless the transposed conv runs on Winograd."""
    f_h, f_w = w.shape[2], w.shape[3]
    p_t, p_b, p_l, p_r = padding
    fits = max(p_t, p_b) <= f_h - 1 and max(p_l, p_r) <= f_w - 1
    # dx's conv has x's size as its output: that decides whether it runs on Winograd.
    w_t_shape = (w.shape[1], w.shape[0], f_h, f_w)
    fewer = (w.shape[0] < w.shape[1] or winograd_applies(w, stride, *x_shape[:1], *x_shape[2:])
             or _direct(w_t_shape, x_shape[:1] + (w.shape[0],), *x_shape[2:]))
    return tuple(stride) == (1, 1) and fits and fewer


def _input_grad_as_conv(gy, w, padding):
    """dx = dy, padded by f - 1 - p, cross-correlated with W flipped and transposed."""
    f_h, f_w = w.shape[2], w.shape[3]
    p_t, p_b, p_l, p_r = padding
    w_t = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
    pad = (f_h - 1 - p_t, f_h - 1 - p_b, f_w - 1 - p_l, f_w - 1 - p_r)
    return _forward(gy, w_t, None, (1, 1), pad)


def conv2d_forward(x, w, b, stride, padding):
    """y[n, k, h, w] = sum_{c, i, j} x_pad[n, c, h*s + i, w*s + j] * W[k, c, i, j] + b[k].

    x: (m, n_c, n_H, n_W); W: (n_c', n_c, f, f); output (m, n_c', n_H', n_W') with
    n_H' = floor((n_H + p_top + p_bottom - f) / s) + 1 (likewise for the width).
    """
    with kernel_call():
        return _forward(x, w, b, stride, padding)


def conv2d_backward(grad_y, x, w, stride, padding, needs):
    """Gradients of conv2d_forward: (dx, dW, db), None where ``needs`` says False.

    dW = sum over the batch of dy (n_c', n_H' n_W') @ cols^T; dx = col2im(W^T @ dy),
    the column gradient added back onto the f x f windows it came from; db = sum of dy.
    """
    with kernel_call():
        return _backward(grad_y, x, w, stride, padding, needs)


# Off: the direct path is skipped (the paths after it take its layers), for A/B timing.
DIRECT = True
# Where both apply, Winograd only from this many channels (in and out) and output tiles;
# below, the direct path did the layer faster. Measured f+b through F.conv2d, Winograd
# against direct (ms, interleaved with PyTorch, medians), since Winograd runs in blocks
# that stay in cache: 8 x 64 x 56 x 56 66 against 80, 1 x 64 x 224 x 224 86 against 127,
# the style step 128 against 151 and 131 against 139 (VGG-16's forward pass 367 against
# 420 once, a tie the second time: 451 against 447); 16 x 32 x 56 x 56
# 46 against 44, 16 x 16 x 32 x 32 11.1 against 7.5; 4 x 512 x 14 x 14 (196 tiles) 217
# against 152, 8 x 128 x 14 x 14 (392 tiles) 21 against 26 in the median but 20 against
# 20 at the 20th percentile (so the tile bar stays).
WINOGRAD_OVER_DIRECT_CHANNELS = 64
WINOGRAD_OVER_DIRECT_TILES = 512


def _direct(w_shape, x_shape, h_o, w_o):
    return DIRECT and direct_applies(w_shape, x_shape, h_o, w_o)


# Off: the tap path is skipped (the paths after it take its layers), for A/B timing.
TAPS = True
# Off: inside the tap path's region the direct forward kernel is not used either (A/B).
TAPS_DIRECT = True
# Filter banks of this many numbers (c_out n_c f_h f_w) or more make the per-image
# path's GEMMs, (c_out x n_c f^2) @ (n_c f^2 x pixels), efficient enough to beat the tap
# path. Measured forward (20th percentile of 30 rounds interleaved with PyTorch, ms,
# per-image -> taps): 8 x 6 x 32 x 32 -> 64, 5 x 5 (9600 numbers) 2.70 -> 3.26; 1 x 3 x 128
# x 128 -> 64, 3 x 3 (1728) 8.78 -> 5.36; 64 x 6 x 14 x 14 -> 16, 5 x 5 (2400) 2.15 -> 1.98.
TAPS_UNDER_GEMM_WEIGHTS = 4096


def _taps(x, w, stride, padding):
    return (TAPS and taps_applies(w.shape, x.shape, stride, padding)
            and (w.size < TAPS_UNDER_GEMM_WEIGHTS or not per_image_parts(x, w, stride, padding)))


def _winograd(w, stride, x_shape, h_o, w_o):
    if not winograd_applies(w, stride, x_shape[0], h_o, w_o):
        return False
    if not _direct(w.shape, x_shape, h_o, w_o):
        return True
    tiles = x_shape[0] * ((h_o + 1) // 2) * ((w_o + 1) // 2)
    return min(w.shape[0], w.shape[1]) >= WINOGRAD_OVER_DIRECT_CHANNELS and tiles >= WINOGRAD_OVER_DIRECT_TILES


def _forward(x, w, b, stride, padding):
    x = np.ascontiguousarray(x)
    w = np.ascontiguousarray(w, dtype=x.dtype)
    n_img, c_out, rows, h_o, w_o, geo = _geometry(x, w, stride, padding)
    w2 = w.reshape(c_out, rows)
    y = np.empty((n_img, c_out, h_o, w_o), x.dtype)
    y3 = y.reshape(n_img, c_out, h_o * w_o)
    if is_pointwise(w, stride, padding):
        forward_pointwise(x, w2, y3)
    elif _winograd(w, stride, x.shape, h_o, w_o):
        forward_winograd(x, w, y, padding)
    elif _direct(w.shape, x.shape, h_o, w_o):
        forward_direct(x, w, b, y, stride, padding)
        return y
    elif _taps(x, w, stride, padding):
        if TAPS_DIRECT and windows_fit(w.shape, x.shape, h_o, w_o):
            # Windows long enough for the direct path's dot products (LeNet-5's second conv,
            # 150 numbers): its forward kernel, the backward pass still on the paths below.
            forward_direct(x, w, b, y, stride, padding)
        else:
            forward_taps(x, w, b, y, padding)
        return y
    elif shifted_is_cheaper(w, stride, x.shape, padding):
        forward_shifted(x, w, y, padding)
    elif parts := per_image_parts(x, w, stride, padding):
        forward_groups(x, w2, y3, h_o, w_o, *geo[:2], *geo[4:], parts)
    else:
        forward_im2col(x, w2, y3, h_o, w_o, geo)
    if b is not None:
        y3 += np.asarray(b, dtype=x.dtype)[None, :, None]
    return y


def _backward(grad_y, x, w, stride, padding, needs):
    need_x, need_w, need_b = (bool(v) for v in needs)
    x = np.ascontiguousarray(x)
    w = np.ascontiguousarray(w, dtype=x.dtype)
    gy = np.ascontiguousarray(grad_y, dtype=x.dtype)
    n_img, c_out, rows, h_o, w_o, geo = _geometry(x, w, stride, padding)
    pix = h_o * w_o
    w2 = w.reshape(c_out, rows)
    gy3 = gy.reshape(n_img, c_out, pix)
    gb = gy3.sum(axis=(0, 2)) if need_b else None
    gx = gw2 = None
    if need_x and _transposed_is_cheaper(w, stride, padding, x.shape):
        gx = _input_grad_as_conv(gy, w, padding)
        need_x = False
    if need_w and _winograd(w, stride, x.shape, h_o, w_o):
        gw2 = weight_grad_winograd(gy, x, w.shape, padding).reshape(c_out, rows)
        need_w = False
    elif need_w and tuple(stride) == (1, 1) and _direct(w.shape, x.shape, h_o, w_o):
        gw2 = weight_grad_direct(gy, x, w.shape, padding).reshape(c_out, rows)
        need_w = False
    elif need_w and shifted_is_cheaper(w, stride, x.shape, padding):
        gw2 = weight_grad_shifted(gy, x, w, padding).reshape(c_out, rows)
        need_w = False
    gx_todo = np.empty_like(x) if need_x else None
    gw_todo = np.zeros((c_out, rows), x.dtype) if need_w else None
    if not (need_x or need_w):
        pass  # both came from the transposed conv and the shift-add path
    elif is_pointwise(w, stride, padding):
        gw_sum = backward_pointwise(x, w2, gy3, gx_todo, need_w)
        if need_w:
            gw_todo = gw_sum
    elif parts := per_image_parts(x, w, stride, padding):
        gx_out = gx_todo if need_x else np.empty((0,) + x.shape[1:], x.dtype)
        gw_sum = backward_groups(x, w2, gy3, gx_out, need_x, need_w, h_o, w_o, *geo[:2], *geo[4:], parts)
        if need_w:
            gw_todo = gw_sum
    else:
        backward_im2col(x, w2, gy3, gx_todo, gw_todo, h_o, w_o, geo)
    gx = gx if gx_todo is None else gx_todo
    gw2 = gw2 if gw_todo is None else gw_todo
    return gx, (None if gw2 is None else gw2.reshape(w.shape)), gb
