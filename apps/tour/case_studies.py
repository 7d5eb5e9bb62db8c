"""Case studies (course module 2): LeNet-5 on the real digits, the model zoo's summary() tables, the depth experiment."""

import os
import shutil

import numpy as np

from apps.tour.page import Item
from apps.tour.pictures import image_grid

# Where the digits application ships its trained LeNet-5, when it does (`minigrad train lenet5 --seed 0`).
SHIPPED_LENET = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "digits", "weights",
                             "lenet5.npz")


def lenet_model(ctx):
    """(model, how it was obtained, the command): made once per tour and shared (the top-patches part reuses it)."""
    if "lenet" not in ctx.shared:
        ctx.shared["lenet"] = _lenet_model(ctx)
    return ctx.shared["lenet"]


def _lenet_model(ctx):
    """The shipped weights, else (or with --train) a training run within the budget."""
    import minigrad as mg
    from apps.digits.train import TrainConfig, make_model, train

    if not ctx.train and os.path.isfile(SHIPPED_LENET):
        model = make_model()
        model.load_state_dict(mg.load(SHIPPED_LENET))
        return model, "the shipped weights (apps/digits/weights/lenet5.npz)", "minigrad train lenet5 --seed 0"
    # No shipped weights (or --train): a short run of the digits' own training, sized to the budget.
    # (epochs, training images, augmentation): the digits' own defaults with --train, else a budget that fits.
    epochs, limit, augment = (15, None, True) if ctx.train else ctx.pick((3, 2000, False), (6, None, True))
    config = TrainConfig(out=ctx.scratch("lenet5"), epochs=epochs, limit=limit, augment=augment, seed=ctx.seed,
                         progress=False, plots=False)
    result = train(config, log=lambda line: None)
    model = make_model()
    model.load_state_dict(mg.load(result["weights"]))
    images = f"{limit} training images" if limit else "the 3,750 training images"
    command = (f"minigrad train lenet5 --epochs {epochs}" + (f" --limit {limit}" if limit else "")
               + ("" if augment else " --no-augment"))
    return model, f"a {epochs}-epoch training run on {images} ({result['seconds']:.0f} s)", command


def lenet(ctx):
    """LeNet-5 on the 1,000 held-out digits: accuracy, confusion matrix and a few predictions."""
    from apps.digits.train import confusion_matrix, digit_splits, evaluate, plot_confusion

    model, source, command = lenet_model(ctx)
    _, _, test = digit_splits()
    _, accuracy, predicted = evaluate(model, test)
    cm = confusion_matrix(test.labels, predicted)
    plot_confusion(cm, ctx.path("lenet_confusion.png"),
                   title=f"LeNet-5 on {len(test)} held-out digits: {100 * accuracy:.1f}% correct")
    wrong = np.flatnonzero(predicted != test.labels)[:4]
    right = np.flatnonzero(predicted == test.labels)[:12 - len(wrong)]
    shown = np.concatenate([right, wrong])
    image_grid([test.images[i, 0] for i in shown],
               [f"{predicted[i]} (true {test.labels[i]})" for i in shown], ctx.path("lenet_predictions.png"),
               columns=6, title_colors=["black" if predicted[i] == test.labels[i] else "red" for i in shown])
    return Item(
        "LeNet-5 on real handwritten digits",
        "LeCun's LeNet-5 (1998): conv 5x5 -> pool -> conv 5x5 -> pool -> three fully connected layers, about "
        "61,000 parameters. As n_H and n_W shrink, n_C grows. It reads the 5,000 MNIST digits that install "
        f"with minigrad; the weights are {source}. The test digits were never trained on.",
        images=[("lenet_confusion.png", "confusion matrix: rows the true digit, columns the prediction"),
                ("lenet_predictions.png", "a few predictions (mistakes in red)")],
        facts=[f"test accuracy {100 * accuracy:.1f}% on {len(test)} held-out digits"],
        command=command,
    )


ZOO = [  # (name, constructor, input shape); the quick tour tabulates the small ones only
    ("LeNet-5", "lenet5", (1, 32, 32), True),
    ("AlexNet", "alexnet", (3, 224, 224), False),
    ("VGG-16", "vgg16", (3, 224, 224), False),
    ("ResNet-18", "resnet18", (3, 224, 224), True),
    ("ResNet-50", "resnet50", (3, 224, 224), False),
    ("GoogLeNet", "googlenet", (3, 224, 224), False),
]


def model_zoo(ctx):
    """models.summary: LeNet-5's table layer by layer, and the totals of the classic networks."""
    import models

    lenet_rows = models.summary(models.lenet5(), (1, 32, 32))
    table = [[f"{r.name} ({r.kind})", " x ".join(map(str, r.output_shape)), f"{r.params:,}", f"{r.multiplies:,}"]
             for r in lenet_rows]
    table.append(["total", "", f"{lenet_rows.total_params:,}", f"{lenet_rows.total_multiplies:,}"])
    totals = []
    for name, constructor, shape, in_quick in ZOO:
        if ctx.quick and not in_quick:
            continue
        s = models.summary(getattr(models, constructor)(), shape)
        totals.append([name, " x ".join(map(str, shape)), len(s), f"{s.total_params / 1e6:.2f} M",
                       f"{s.total_multiplies / 1e9:.3f} G"])
    _zoo_chart(totals, ctx.path("model_zoo.png"))
    return Item(
        "The classic networks and their cost",
        "summary(model, input_shape) runs one image through the network and lists every layer's output shape, "
        "its parameters ((f*f*n_c + 1)*n_c' for a conv) and its multiplies (n_H' n_W' n_c' f f n_c). Most "
        "parameters sit in the fully connected layers; most multiplies in the convolutions. 1x1 convolutions "
        "(Inception) and bottlenecks (ResNet-50) cut the cost." + (" --quick tabulates the small ones." if ctx.quick
                                                                 else ""),
        images=[("model_zoo.png", "parameters and multiplies of the model zoo, one image")],
        tables=[("LeNet-5, layer by layer", ["layer", "output", "parameters", "multiplies"], table),
                ("the model zoo", ["network", "input", "layers", "parameters", "multiplies"], totals)],
        command="python -c \"import models; print(models.summary(models.resnet18(), (3, 224, 224)))\"",
    )


def _zoo_chart(totals, path):
    from apps.tour.pictures import pyplot, save_figure

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 2.6))
    names = [row[0] for row in totals]
    params = [float(row[3].split()[0]) for row in totals]
    mults = [float(row[4].split()[0]) for row in totals]
    axes[0].barh(names, params, color="#457b9d")
    axes[0].set_xlabel("parameters (millions)")
    axes[1].barh(names, mults, color="#e76f51")
    axes[1].set_xlabel("multiplies per image (billions)")
    for ax in axes:
        ax.invert_yaxis()
        ax.set_xscale("log")
    fig.tight_layout()
    save_figure(fig, path)


def depth(ctx):
    """The depth experiment (M2.06): training error against depth, plain versus residual, on a small budget."""
    from apps.digits.depth import DepthConfig, run_depth

    depths, images, epochs = ctx.pick(((4, 12), 200, 2), ((4, 10, 20), 300, 3))
    if ctx.train:
        depths, images, epochs = (4, 10, 20, 30), 500, 4
    config = DepthConfig(depths=depths, images=images, epochs=epochs, seed=ctx.seed, out=ctx.scratch("depth"),
                         progress=False)
    result = run_depth(config, log=lambda line: None)
    shutil.copyfile(result["png"], ctx.path("depth.png"))
    return Item(
        "Why residual networks: the depth experiment",
        "In theory a deeper network can only fit its training set better; in practice a plain network's "
        "training error rises past some depth. A residual block adds its input back, a[l+2] = g(z[l+2] + a[l]), "
        "so it can learn the identity and depth stops hurting. Plain and residual networks of each depth train "
        f"here on the same {images} digits for {epochs} epoch(s). The course's claim {result['message']}.",
        images=[("depth.png", "final training error against depth")],
        command=f"minigrad experiment depth --depths {','.join(map(str, depths))} --images {images} "
                f"--epochs {epochs}",
    )
