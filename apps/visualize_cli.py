"""`minigrad visualize {lenet5,vgg16} --layer L`: a PNG grid of the nine patches that most excite each of several units (apps.visualize.top_patches).

LeNet-5 looks at the digits that ship with minigrad, with the weights of `minigrad train
lenet5` (runs/lenet5/lenet5.npz when you have trained one, else the shipped weights); if neither is there it trains one for a
couple of epochs through apps.fit first (about a minute), so the command works right
after install. VGG-16 uses the installed ImageNet features (`minigrad weights install
vgg16`) on scikit-image's bundled photographs, cut into tiles.
"""

import os

import numpy as np

from apps.cli_args import CLIError, output_file, positive_int
from apps.files import save_figure

DEFAULT_LENET_WEIGHTS = os.path.join("runs", "lenet5", "lenet5.npz")
# The digits application ships its LeNet-5 (`minigrad train lenet5 --seed 0`): a data file, found by path,
# so this module does not import that application.
SHIPPED_LENET_WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "digits", "weights", "lenet5.npz")
LENET_LAYERS = {1: 2, 2: 5}     # conv layer -> how many of LeNet-5's feature layers, up to its activation
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "motorcycle_left",
          "retina", "cat")


def register(subparsers):
    p = subparsers.add_parser(
        "visualize", help="what hidden units see: the 9 input patches that excite each unit most (course M4.08)",
        description="Run many images through a network up to one layer and, for several units (channels), show "
                    "the nine input patches (receptive fields) where the unit fires most.")
    p.add_argument("model", choices=["lenet5", "vgg16"])
    p.add_argument("--layer", required=True,
                   help="lenet5: 1 or 2 (the conv layer); vgg16: a name such as conv1_1, conv3_1, conv5_1")
    p.add_argument("-o", "--output", type=output_file, default=None, help="PNG (default: visualize-MODEL-LAYER.png)")
    p.add_argument("--units", type=positive_int, default=8, help="how many units, the most active first (default: %(default)s)")
    p.add_argument("--weights", default=None,
                   help=f"lenet5 weights from `minigrad train lenet5` (default: {DEFAULT_LENET_WEIGHTS} when present, "
                        "else the shipped weights)")
    p.add_argument("--images", type=positive_int, default=None,
                   help="how many images to search (default: 1000 digits, or 200 64x64 tiles of the photos)")
    p.set_defaults(func=run)


def _lenet_weights(path):
    """LeNet-5 (ReLU, max pooling: what `minigrad train lenet5` trains) with trained weights."""
    import minigrad as mg
    from models import lenet5

    model = lenet5(activation="relu", pooling="max")
    explicit = path is not None
    if path is None:
        path = DEFAULT_LENET_WEIGHTS if os.path.exists(DEFAULT_LENET_WEIGHTS) else SHIPPED_LENET_WEIGHTS
    if os.path.exists(path):
        try:
            model.load_state_dict(mg.load(path))
        except (ValueError, KeyError, OSError, RuntimeError) as error:  # RuntimeError: keys or shapes that do not fit
            raise CLIError(f"{path} does not hold LeNet-5 weights from `minigrad train lenet5`: {error}") from None
        return model, path
    if explicit:
        raise CLIError(f"--weights does not exist: {path} (train with `minigrad train lenet5`)")
    return _train_quickly(model), "trained now: 2 epochs on the 5k digits, seed 0"


def _train_quickly(model, epochs=2):
    import minigrad as mg
    import minigrad.functional as F
    from minigrad import optim
    from minigrad.data import DataLoader, load_digits

    from apps.fit import fit

    print(f"no LeNet-5 weights at {DEFAULT_LENET_WEIGHTS} (`minigrad train lenet5` writes them): "
          f"training one for {epochs} epochs")
    mg.manual_seed(0)

    def step(m, batch):
        images, labels = batch
        logits = m(images)
        return F.cross_entropy(logits, labels), {"acc": (logits.argmax(1) == labels).sum()}, labels.shape[0]

    loader = DataLoader(load_digits(pad=2), batch_size=64, shuffle=True, seed=0)
    fit(model, optim.Adam(model.parameters(), lr=3e-3), loader, step, epochs=epochs)
    return model


def _vgg_tiles(count, tile=64):
    """Tiles of scikit-image's bundled photos (RGB in [0, 1]), tile x tile, as an (N, 3, tile, tile) batch."""
    import skimage.data

    tiles = []
    for name in PHOTOS:
        try:
            photo = np.asarray(getattr(skimage.data, name)())
        except Exception:           # a photo missing from this scikit-image release is skipped
            continue
        if photo.ndim != 3:
            continue
        photo = photo[:, :, :3].astype(np.float32) / 255.0
        for i in range(0, photo.shape[0] - tile + 1, tile):
            for j in range(0, photo.shape[1] - tile + 1, tile):
                tiles.append(photo[i:i + tile, j:j + tile].transpose(2, 0, 1))
    tiles = np.stack(tiles)
    order = np.random.default_rng(0).permutation(len(tiles))     # a fair draw from every photo, not the first one
    return tiles[np.sort(order[:count or 200])]


def _network(args):
    """(model up to the layer, images, a label, how to turn a patch into RGB for display)."""
    from minigrad import nn

    if args.model == "lenet5":
        try:
            layer = int(args.layer)
        except ValueError:
            layer = None
        if layer not in LENET_LAYERS:
            raise CLIError(f"--layer for lenet5 must be 1 or 2, got {args.layer!r}")
        model, source = _lenet_weights(args.weights)
        from minigrad.data import load_digits

        images = load_digits(pad=2).images[:args.images or 1000]
        return nn.Sequential(*list(model.features)[:LENET_LAYERS[layer]]), images, f"LeNet-5 conv{layer} ({source})"
    import models
    from models.vgg import VGG16_CONFIG, feature_names
    from models.weights import WeightsNotInstalled, preprocess

    names = feature_names(VGG16_CONFIG)
    if args.layer not in names:
        raise CLIError(f"--layer for vgg16 must be one of {', '.join(names)}, got {args.layer!r}")
    if args.weights:
        raise CLIError("--weights is for lenet5; vgg16 uses the installed features")
    try:
        vgg = models.vgg16(weights="imagenet-features")
    except WeightsNotInstalled as error:
        raise CLIError(str(error)) from None

    class Preprocessed(nn.Module):
        """The trunk up to the layer, fed RGB in [0, 1] (so the patches are plain pictures)."""

        def __init__(self, trunk):
            super().__init__()
            self.trunk = trunk

        def forward(self, x):
            return self.trunk(preprocess(x, "vgg16"))

    trunk = nn.Sequential(*list(vgg.features)[:names[args.layer] + 1])
    return Preprocessed(trunk), _vgg_tiles(args.images), f"VGG-16 {args.layer} (ImageNet features)"


def _grid(rows, path, title):
    """One row per unit: its nine patches, scaled to the same size, with a label; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = max(len(patches) for _, patches, _ in rows)
    fig, axes = plt.subplots(len(rows), k, figsize=(k * 0.9, len(rows) * 0.95 + 0.4), squeeze=False)
    for r, (unit, patches, acts) in enumerate(rows):
        for c in range(k):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(patches):
                patch = patches[c]
                picture = patch[0] if patch.shape[0] == 1 else patch.transpose(1, 2, 0)
                ax.imshow(np.clip(picture, 0, 1), cmap="gray" if patch.shape[0] == 1 else None, vmin=0, vmax=1)
            if c == 0:
                ax.set_ylabel(f"unit {unit}", fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    try:
        save_figure(fig, path)
    finally:
        plt.close(fig)


def run(args):
    import minigrad as mg

    from apps.visualize import receptive_field, top_patches

    model, images, label = _network(args)
    output = args.output or f"visualize-{args.model}-{args.layer}.png"
    field = receptive_field(model)
    with mg.no_grad():
        acts = model(mg.tensor(images)).numpy()
    mean = acts.max(axis=(2, 3)).mean(axis=0)
    units = [int(u) for u in np.argsort(-mean, kind="stable")[:args.units]]   # the units that fire at all first
    acts = mg.tensor(acts)

    def cached(_):                  # every unit reads the same activations: run the network once
        return acts

    rows = []
    for unit in units:
        patches, acts_k, _ = top_patches(cached, images, unit, k=9, field=field)
        rows.append((unit, patches, acts_k))
    _grid(rows, output, f"{label}: top-9 patches (receptive field {field[0]}x{field[0]} px)")
    print(f"wrote {output}: {len(units)} units of {label}, nine patches each, searched {len(images)} images")
    return 0
