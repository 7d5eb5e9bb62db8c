"""PNG pictures for the tour, written atomically: matplotlib figures, image grids and side-by-side panels."""

import os

import numpy as np


def pyplot():
    """matplotlib's pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path, dpi=100):
    """Save a matplotlib figure as PNG atomically and close it; return the path."""
    tmp = f"{path}.{os.getpid()}.tmp.png"
    fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    pyplot().close(fig)
    os.replace(tmp, path)
    return path


def image_grid(images, titles, path, columns=None, cmap="gray", size=1.6, title_colors=None, suptitle=None):
    """Images (each (H, W) or (H, W, 3), any range: shown min..max) in a grid with a title over each; returns path."""
    plt = pyplot()
    n = len(images)
    columns = columns or n
    rows = (n + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(size * columns, size * rows + (0.4 if suptitle else 0)),
                             squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if k >= n:
            continue
        image = np.asarray(images[k])
        ax.imshow(image, cmap=cmap if image.ndim == 2 else None, interpolation="nearest")
        ax.set_title(titles[k], fontsize=9, color=(title_colors[k] if title_colors else "black"))
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    fig.tight_layout()
    return save_figure(fig, path)


def to_unit(image):
    """Scale any array to [0, 1] by its min and max (a flat array becomes zeros)."""
    a = np.asarray(image, dtype=np.float64)
    low, high = a.min(), a.max()
    return np.zeros_like(a) if high <= low else (a - low) / (high - low)


def enlarge(path, min_width=600):
    """Scale a small PNG up by a whole factor (nearest neighbour: every pixel stays visible) until it is min_width wide; returns the factor."""
    from PIL import Image

    with Image.open(path) as image:
        factor = -(-min_width // image.width)
        if factor <= 1:
            return 1
        big = image.resize((image.width * factor, image.height * factor), Image.NEAREST)
    tmp = f"{path}.{os.getpid()}.tmp.png"
    big.save(tmp)
    os.replace(tmp, path)
    return factor
