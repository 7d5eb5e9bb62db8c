"""Input checks shared by the model zoo: a wrong image size fails early with a clear message.

Each model knows the images it accepts: a channel count and either one exact size
(LeNet-5's fully connected layers need 1x32x32) or a minimum size (models that end in
adaptive average pooling accept any height and width at least as large as the
smallest one for which every conv and pool layer still has an output).
The size arithmetic is the course's output-size formula, ``floor((n + 2p - f) / s) + 1``
for a layer with input size n, filter f, padding p and stride s, taken from the engine
(``minigrad.sizes.output_size``); ceil mode (GoogLeNet's pools) is added here.
"""

import math

from minigrad.sizes import output_size


def out_size(n, f, s=1, p=0, ceil_mode=False):
    """Output size of a conv or pool layer along one dimension.

    ``floor((n + 2p - f) / s) + 1`` (the course's formula), or with ``ceil_mode`` the
    ceiling instead of the floor, dropping a last window that would start in the
    padding (PyTorch's rule). Returns 0 or less when the window does not fit.
    """
    span = n + 2 * p - f
    if span < 0:
        return 0
    if not ceil_mode:
        return output_size(n, f, p, s)
    o = math.ceil(span / s) + 1
    if (o - 1) * s >= n + p:
        o -= 1
    return o


def check_image(x, model, channels, exact=None, minimum=None):
    """Raise ValueError unless ``x`` is an (N, channels, H, W) batch of an accepted size.

    ``exact``: the one accepted (H, W); ``minimum``: the smallest accepted H and W.
    The message names the model, the expected size and the shape it got.
    """
    shape = tuple(x.shape)
    if exact is not None:
        want = f"(N, {channels}, {exact[0]}, {exact[1]}), i.e. {channels}x{exact[0]}x{exact[1]} images"
    else:
        want = (f"(N, {channels}, H, W) with H, W >= {minimum} "
                f"(at least {channels}x{minimum}x{minimum} images)")
    ok = len(shape) == 4 and shape[1] == channels
    if ok and exact is not None:
        ok = shape[2:] == tuple(exact)
    if ok and minimum is not None:
        ok = shape[2] >= minimum and shape[3] >= minimum
    if not ok:
        raise ValueError(f"{model} expects input of shape {want}; got input of shape {shape}")
