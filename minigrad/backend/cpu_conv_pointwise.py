"""conv2d's pointwise path (1 x 1 filter, stride 1, no padding): x already is its own im2col.

Per image n: y[n] = W (n_c', n_c) @ x[n] (n_c, n_H n_W); dx[n] = W^T @ dy[n];
dW = sum over n of dy[n] @ x[n]^T. With at least as many images as threads, worker p
of ``threads.run_parts`` owns images [p n / parts, (p + 1) n / parts): their y and dx
planes and its own partial dW, one single-threaded GEMM per image (these GEMMs are
small, 1-10 M multiply-adds, and splitting each one cost a synchronisation per image:
measured 1.2-1.6x PyTorch's time that way). With fewer images than threads, each
image's GEMM is split into disjoint output blocks by ``threads.matmul`` instead.
"""
import numpy as np

from .threads import matmul as _mm, run_parts, worker_count


def is_pointwise(w, stride, padding):
    return w.shape[2] == 1 and w.shape[3] == 1 and tuple(stride) == (1, 1) and not any(padding)


def _image_parts(n_img, macs_per_image):
    parts = worker_count()
    if n_img < parts or n_img * macs_per_image < (1 << 20):
        return 1  # too few images to share out, or too little work to wake the workers
    return parts


def forward_pointwise(x, w2, y3):
    """y3 (m, n_c', n_H n_W) = W2 (n_c', n_c) @ x[n] for every image n."""
    n_img, n_ch = x.shape[0], x.shape[1]
    x3 = x.reshape(n_img, n_ch, -1)
    parts = _image_parts(n_img, w2.size * x3.shape[2])
    if parts == 1:
        for n in range(n_img):
            _mm(w2, x3[n], y3[n])
        return

    def work(p):
        for n in range(p * n_img // parts, (p + 1) * n_img // parts):
            np.matmul(w2, x3[n], out=y3[n])
    run_parts(work, parts)


def backward_pointwise(x, w2, gy3, gx, need_w):
    """Fills gx (if not None) with W^T @ dy[n] per image; returns dW (n_c', n_c) if need_w."""
    n_img, n_ch = x.shape[0], x.shape[1]
    c_out = w2.shape[0]
    x3 = x.reshape(n_img, n_ch, -1)
    gx3 = None if gx is None else gx.reshape(n_img, n_ch, -1)
    parts = _image_parts(n_img, w2.size * x3.shape[2])
    gw_parts = np.zeros((parts, c_out, n_ch), x.dtype) if need_w else None

    def work(p, gemm):
        tmp = np.empty((c_out, n_ch), x.dtype) if need_w else None
        for n in range(p * n_img // parts, (p + 1) * n_img // parts):
            if gx3 is not None:
                gemm(w2.T, gy3[n], gx3[n])
            if need_w:
                gemm(gy3[n], x3[n].T, tmp)
                gw_parts[p] += tmp
    if parts == 1:
        work(0, _mm)
    else:
        run_parts(lambda p: work(p, lambda a, b, out: np.matmul(a, b, out=out)), parts)
    return None if gw_parts is None else gw_parts.sum(axis=0)
