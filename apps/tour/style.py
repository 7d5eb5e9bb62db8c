"""Style (course module 4): a stylised photo (content, style, result side by side) and the top-9 patches of a few units."""

import numpy as np

from apps.tour.context import Unavailable
from apps.tour.page import Item
from apps.tour.pictures import enlarge, image_grid


CONTENT, STYLE = "astronaut", "gravel"     # pictures that ship with scikit-image (apps.style.pictures.example)


def _features(ctx):
    """(the network whose activations define content and style, a note for the page, the extra command flag)."""
    from models.weights import WeightsNotInstalled

    from apps.style.features import random_features, vgg16_features

    if ctx.random_features:
        return random_features(ctx.seed), "a randomly initialised multi-scale network (--random-features)", \
            " --random-features"
    try:
        return vgg16_features(), "VGG-16's pretrained convolutional layers", ""
    except WeightsNotInstalled as error:
        raise Unavailable(f"{error}; or run the tour with --random-features "
                          "(style from a network of random filters)") from None


def transfer(ctx):
    """Paint a photo in the style of a texture at 128 px (Gatys et al.'s costs, L-BFGS on the pixels)."""
    try:
        from apps.style import pictures
        from apps.style.transfer import Settings, transfer as paint
    except ImportError:
        raise Unavailable("neural style transfer (apps.style.transfer) is not in this installation yet") from None
    features, network, flag = _features(ctx)
    size, steps = ctx.pick((64, 10), (128, 40))
    content = pictures.fit_to(pictures.example(CONTENT), size=size)
    style = pictures.fit_to(pictures.example(STYLE), shape=content.shape[:2])
    settings = Settings(steps=steps, seed=ctx.seed)
    result, history = paint(content, style, features, settings)
    pictures.save_side_by_side([content, style, result], ctx.path("style.png"))
    factor = enlarge(ctx.path("style.png"))
    return Item(
        "Neural style transfer",
        "Nothing is trained: the network's weights stay fixed and the pixels of G are the parameters. "
        "J_content = 1/2 ||a(C) - a(G)||^2 at one deep layer keeps what is where; J_style compares Gram matrices "
        "G_kk' = sum_ij a_ijk a_ijk' (which channels fire together) at five layers, so it keeps textures and "
        f"colours but not their places. G starts from the content photo and L-BFGS takes {steps} steps on "
        f"J = alpha J_content + beta J_style, at {content.shape[1]} x {content.shape[0]} px, with {network}.",
        images=[("style.png", f"content ({CONTENT}), style ({STYLE}) and the result"
                                + (f", drawn {factor}x larger" if factor > 1 else ""))],
        facts=[f"J went from {history['J'][0]:.4g} to {history['J'][-1]:.4g} in {len(history['J'])} evaluations"],
        command=f"minigrad style --example {CONTENT} {STYLE} --size {size} --steps {steps}{flag}",
    )


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
        command="minigrad visualize lenet5 --layer 2   # --layer 1 for the first conv; vgg16 --layer conv3_1",
    )
