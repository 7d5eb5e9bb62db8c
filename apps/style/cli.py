"""`minigrad style CONTENT STYLE -o out.png`: neural style transfer on VGG-16's features (or random ones) from the command line."""

import argparse
import os
import time

from apps.cli_args import CLIError, int_between, nonnegative_float, nonnegative_int, output_file, positive_float, positive_int

from . import pictures
from .transfer import GATYS_STYLE_LAYERS, Settings


def _names(text):
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"must be comma-separated layer names, got {text!r}")
    return names


def _floats(text):
    return [nonnegative_float(part.strip()) for part in text.split(",") if part.strip()]


def register(subparsers):
    p = subparsers.add_parser(
        "style", help="neural style transfer: paint CONTENT in the style of STYLE (Gatys et al.)",
        description="Optimise the pixels of an image G so that its VGG-16 activations keep CONTENT's content "
                    "(conv4_2) and take STYLE's Gram matrices (conv1_1..conv5_1), as in Gatys et al. 2016. "
                    "Needs `minigrad weights install vgg16` once, or --random-features. Writes OUT, OUT-side.png "
                    "(content | style | result), OUT-losses.png and OUT.json.")
    p.add_argument("content", nargs="?", help="content picture (with --example: astronaut, coffee or chelsea)")
    p.add_argument("style", nargs="?", help="style picture (with --example: brick, grass or gravel)")
    p.add_argument("-o", "--output", type=output_file, default="style.png", help="result PNG (default: %(default)s)")
    p.add_argument("--example", action="store_true",
                   help="use scikit-image's bundled pictures (offline); default astronaut in the style of gravel")
    # Capped: VGG-16's activations grow with the square of the side (--size 100000 ran for minutes before failing).
    p.add_argument("--size", type=int_between(16, 2048), default=256,
                   help="longer side of the result, 16 to 2048 pixels (default: %(default)s)")
    p.add_argument("--steps", type=positive_int, default=Settings.steps,
                   help="evaluations of J (L-BFGS) or Adam steps (default: %(default)s)")
    p.add_argument("--optimizer", choices=["lbfgs", "adam"], default="lbfgs", help="(default: %(default)s)")
    p.add_argument("--lr", type=positive_float, default=None, help="step size (default: 1 for L-BFGS, 0.02 for Adam)")
    p.add_argument("--init", choices=["content", "noise"], default="content", help="G's start (default: %(default)s)")
    p.add_argument("--alpha", type=nonnegative_float, default=Settings.alpha, help="content weight (default: %(default)s)")
    p.add_argument("--beta", type=nonnegative_float, default=Settings.beta, help="style weight (default: %(default)s)")
    p.add_argument("--tv", type=nonnegative_float, default=0.0, help="total-variation weight (default: off)")
    p.add_argument("--content-layer", default=Settings.content_layer, help="(default: %(default)s)")
    p.add_argument("--style-layers", type=_names, default=list(GATYS_STYLE_LAYERS),
                   help="comma-separated (default: %s)" % ",".join(GATYS_STYLE_LAYERS))
    p.add_argument("--style-weights", type=_floats, default=None, help="lambda per style layer (default: equal)")
    p.add_argument("--frames", type=nonnegative_int, default=0, help="write G every N steps to OUT-frames/ (default: off)")
    p.add_argument("--random-features", action="store_true",
                   help="a seeded multi-scale network of random filters instead of VGG-16 (no weights needed)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="noise init and random features (default: %(default)s)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.set_defaults(func=run)


def _pictures(args):
    """(content, style, their names) as (H, W, 3) arrays, checked before any work."""
    if args.example:
        names = (args.content or "astronaut", args.style or "gravel")
        for name, allowed, what in zip(names, (pictures.EXAMPLE_CONTENT, pictures.EXAMPLE_STYLE), ("content", "style")):
            if name not in allowed:
                raise CLIError(f"--example {what} must be one of {', '.join(allowed)}, got {name!r}")
        return pictures.example(names[0]), pictures.example(names[1]), names
    if not args.content or not args.style:
        raise CLIError("give CONTENT and STYLE pictures, or --example")
    images = []
    for what, path in (("CONTENT", args.content), ("STYLE", args.style)):
        if not os.path.isfile(path):
            raise CLIError(f"{what} does not exist: {path}" if not os.path.exists(path) else f"{what} is not a file: {path}")
        try:
            images.append(pictures.load_image(path))
        except ValueError as error:
            raise CLIError(str(error)) from None
    return images[0], images[1], (args.content, args.style)


def _features(random, seed):
    from models.weights import WeightsNotInstalled

    from .features import random_features, vgg16_features

    if random:
        return random_features(seed)
    try:
        return vgg16_features()
    except WeightsNotInstalled as error:
        raise CLIError(f"{error} (or use --random-features)") from None


def run(args):
    settings = Settings(content_layer=args.content_layer, style_layers=tuple(args.style_layers),
                        style_weights=tuple(args.style_weights) if args.style_weights else None,
                        alpha=args.alpha, beta=args.beta, tv=args.tv, optimizer=args.optimizer, steps=args.steps,
                        lr=args.lr, init=args.init, seed=args.seed, frames=args.frames)
    try:
        settings.check()
    except ValueError as error:
        raise CLIError(str(error).replace("style_weights", "--style-weights")) from None
    content, style, names = _pictures(args)
    features = _features(args.random_features, args.seed)
    try:
        features.check([settings.content_layer, *settings.style_layers])
    except ValueError as error:
        raise CLIError(str(error)) from None
    content = pictures.fit_to(content, size=args.size)
    style = pictures.fit_to(style, shape=content.shape[:2])
    if min(content.shape[:2]) < 16:
        raise CLIError(f"--size {args.size} makes a {content.shape[0]}x{content.shape[1]} picture; need at least 16 pixels a side")

    from .transfer import transfer

    stem = os.path.splitext(args.output)[0]
    frames_dir = stem + "-frames"

    def on_frame(step, image):
        pictures.save_png(image, os.path.join(frames_dir, f"step-{step:04d}.png"))

    from apps.fit import progress_bar

    start = time.perf_counter()
    with progress_bar(None, "style", enabled=args.progress, total=settings.steps) as bar:
        result, history = transfer(content, style, features, settings, on_frame=on_frame, progress=bar)
    seconds = time.perf_counter() - start
    pictures.save_png(result, args.output)
    pictures.save_side_by_side([content, style, result], stem + "-side.png")
    pictures.save_loss_curves(history, stem + "-losses.png", title=f"{os.path.basename(names[0])} in the style of "
                                                                    f"{os.path.basename(names[1])}")
    summary = {
        "content": names[0], "style": names[1], "size": list(content.shape[:2]), "features": features.label,
        "settings": settings.as_dict(), "evaluations": len(history["J"]), "seconds": round(seconds, 2),
        **history["final"],
        "J_style_first": history["J_style"][0], "J_style_fall": history["J_style"][0] / max(history["final"]["J_style"], 1e-30),
        "history": history,
    }
    pictures.save_json(summary, stem + ".json")
    print(f"wrote {args.output}, {stem}-side.png, {stem}-losses.png, {stem}.json: {len(history['J'])} evaluations "
          f"in {seconds:.1f}s; J_content {summary['J_content']:.4g}, J_style {history['J_style'][0]:.4g} -> "
          f"{summary['J_style']:.4g} ({summary['J_style_fall']:.1f}x lower)")
    return 0
