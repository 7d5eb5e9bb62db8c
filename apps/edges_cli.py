"""`minigrad edges IMAGE -o edges.png`: the course's vertical, horizontal, Sobel and Scharr filters applied to a picture, side by side."""

import os

import numpy as np

from apps.cli_args import CLIError, output_file
from apps.files import save_figure


def register(subparsers):
    p = subparsers.add_parser(
        "edges", help="edge detection with the course's 3x3 filters (vertical, horizontal, Sobel, Scharr)",
        description="Convolve the picture (as grayscale) with each of the course's edge filters (apps.edges, "
                    "F.conv2d) and write the picture and the four responses side by side.")
    p.add_argument("image", help="a picture file (PNG, JPEG, ...)")
    p.add_argument("-o", "--output", type=output_file, default="edges.png", help="PNG (default: %(default)s)")
    p.set_defaults(func=run)


def load_gray(path):
    """A picture file as (H, W) float32 grayscale in [0, 1]; one-line errors for a missing or unreadable file."""
    from PIL import Image, UnidentifiedImageError

    if not os.path.isfile(path):
        raise CLIError(f"IMAGE does not exist: {path}" if not os.path.exists(path) else f"IMAGE is not a file: {path}")
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError) as error:
        raise CLIError(f"could not read {path} as an image: {error}") from None


def run(args):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from apps.edges import FILTERS, detect_edges

    gray = load_gray(args.image)
    if min(gray.shape) < 3:
        raise CLIError(f"IMAGE must be at least 3x3 pixels for a 3x3 filter, got {gray.shape[0]}x{gray.shape[1]}")
    responses = {name: detect_edges(gray, kernel).numpy() for name, kernel in FILTERS.items()}
    fig, axes = plt.subplots(1, 1 + len(responses), figsize=(3.2 * (1 + len(responses)), 3.4))
    axes[0].imshow(gray, cmap="gray", vmin=0, vmax=1)
    axes[0].set_title("picture (grayscale)", fontsize=9)
    for ax, (name, response) in zip(axes[1:], responses.items()):
        limit = float(np.abs(response).max()) or 1.0
        ax.imshow(response, cmap="RdBu_r", vmin=-limit, vmax=limit)     # signed: light-to-dark vs dark-to-light
        ax.set_title(f"{name} (|max| {limit:.2g})", fontsize=9)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    try:
        save_figure(fig, args.output)
    finally:
        plt.close(fig)
    print(f"wrote {args.output}: the picture and its {', '.join(responses)} responses")
    return 0
