"""`minigrad tour`: run the whole course on the engine and write minigrad-tour/index.html, one page with pictures."""

from apps.cli_args import CLIError, output_dir, output_file


def register(subparsers):
    from apps.tour.runner import ITEM_KEYS, SECTION_KEYS

    parser = subparsers.add_parser(
        "tour", help="the whole course in a few minutes: an HTML page with a picture per application",
        description="Run every part of the course on minigrad (foundations, case studies, detection, faces, "
        "style, speed) and write one self-contained HTML page with the pictures beside it. About 3-5 minutes "
        "on 2 cores with the shipped weights; --quick takes under a minute.",
    )
    parser.add_argument("--out", type=output_dir, default="minigrad-tour",
                        help="folder for index.html and its PNGs (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="a smaller budget for every section: under a minute")
    parser.add_argument("--train", action="store_true",
                        help="retrain every model from scratch instead of using the shipped weights (takes much longer)")
    parser.add_argument("--only", metavar="NAMES", default=None,
                        help=f"comma-separated sections ({', '.join(SECTION_KEYS)}) or items "
                        f"({', '.join(ITEM_KEYS)}); default: all")
    parser.add_argument("--random-features", action="store_true",
                        help="style transfer on a randomly initialised VGG-16 when no trained VGG weights are installed")
    parser.add_argument("--screenshot", metavar="PNG", type=output_file, default=None,
                        help="also save a screenshot of the page (needs chromium), as the README's docs/tour.png")
    parser.add_argument("--seed", type=int, default=0, help="seed of every training run and sample (default: %(default)s)")
    parser.set_defaults(func=run)


def run(args):
    import shutil
    import subprocess

    from apps.tour.context import Context
    from apps.tour.runner import parse_only, run_tour

    try:
        chosen = parse_only(args.only)
    except ValueError as error:
        raise CLIError(str(error)) from None
    ctx = Context(out=args.out, quick=args.quick, train=args.train, random_features=args.random_features,
                  seed=args.seed, debug=getattr(args, "debug", False))
    if args.train:
        print("minigrad tour --train: retraining every model from scratch; this takes much longer than the "
              "shipped weights (tens of minutes on 2 cores)", flush=True)
    try:
        page, items = run_tour(ctx, chosen)
    finally:
        shutil.rmtree(ctx.work, ignore_errors=True)
    if args.screenshot:
        from apps.tour.browser import screenshot

        try:
            print(f"screenshot -> {screenshot(page, args.screenshot)}")
        except (FileNotFoundError, RuntimeError, subprocess.SubprocessError) as error:
            raise CLIError(f"--screenshot: {error}") from None
    return 1 if any(item.status == "failed" for item in items) else 0
