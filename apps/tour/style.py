"""Style (course module 4): a stylised photo (content, style, result side by side) and the top-9 patches of a few units."""

import numpy as np

from apps.tour.context import Unavailable
from apps.tour.page import Item
from apps.tour.pictures import image_grid


def transfer(ctx):
    try:
        from apps.style import transfer as _  # noqa: F401
    except ImportError:
        raise Unavailable("neural style transfer (apps.style.transfer) is not in this installation yet") from None
    raise Unavailable("the style section is not written yet")


UNITS = 4   # units shown per layer


def _mosaic(patches, gap=2):
    """k = 9 patches (9, 1, F, F) as one 3 x 3 image with a light gap between them."""
    k, _, size, _ = patches.shape
    side = int(np.ceil(np.sqrt(k)))
    sheet = np.full((side * (size + gap) - gap, side * (size + gap) - gap), 1.2, dtype=np.float32)
    for n in range(k):
        r, c = divmod(n, side)
        sheet[r * (size + gap):r * (size + gap) + size, c * (size + gap):c * (size + gap) + size] = patches[n, 0]
    return sheet


def top_patches(ctx):
    """The nine test digits' patches that excite a unit the most, for units of LeNet-5's first and second conv layers."""
    from apps.digits.train import digit_splits
    from apps.tour.case_studies import lenet_model
    from apps.visualize import top_patches as strongest

    model, source, _ = lenet_model(ctx)
    _, _, test = digit_splits()
    images = test.images[:ctx.pick(300, 1000)]
    layers = [("conv 1", model.features[:2]), ("conv 2", model.features[:5])]
    mosaics, titles = [], []
    for name, net in layers:
        with_act = []
        for unit in range(net[-2].weight.shape[0]):                 # net[-2]: the layer's conv, before its ReLU
            patches, acts, _ = strongest(net, images, unit, k=9)
            with_act.append((float(acts[0]), unit, patches))
        # the units that answer the most strongly: the clearest pictures of what a unit looks for
        for peak, unit, patches in sorted(with_act, key=lambda t: -t[0])[:UNITS]:
            mosaics.append(_mosaic(1.0 - patches))          # dark ink on white, as the course's figures
            titles.append(f"{name}, unit {unit}")
    image_grid(mosaics, titles, ctx.path("top_patches.png"), columns=UNITS, size=2.0)
    return Item(
        "What hidden units learn: the top-9 patches",
        "Pick a unit of a hidden layer, run many images through the network and keep the nine image patches "
        "that make it fire the most; a patch is the unit's receptive field. Units of the first layer see 5 x 5 "
        "pixels and answer to strokes at one angle; units of the second see 14 x 14 and answer to corners, "
        f"loops and stroke ends. Here for LeNet-5 on {len(images)} test digits ({source}).",
        images=[("top_patches.png", f"the top-9 patches of {UNITS} units of each conv layer, dark ink on white")],
        command="minigrad tour --only top-patches   # apps.visualize.top_patches on any network",
    )
