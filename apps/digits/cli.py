"""`minigrad train`, `finetune`, `experiment depth` and `predict`: the digits applications from the command line.

Every option is declared with a type from apps.cli_args, so a bad value is refused
before any work, in one line, with exit code 2.
"""

import argparse
import sys

from apps.cli_args import (
    existing_dir,
    existing_file,
    int_between,
    int_list,
    output_dir,
    positive_float,
    positive_int,
    seed,
)


def even_depths(text):
    """An argparse type: comma-separated even depths >= 4 ("4,10,20,30")."""
    depths = int_list(4)(text)
    odd = [d for d in depths if d % 2]
    if odd:
        raise argparse.ArgumentTypeError(f"must be even numbers >= 4 (stem + 2 convs per block + head), got {odd[0]}")
    return tuple(depths)


def register(subparsers):
    p = subparsers.add_parser("train", help="train a model on the handwritten digits (LeNet-5)",
                              description="Train LeNet-5 on the 5k MNIST digits that ship with minigrad (or full "
                                          "MNIST with --data), validate each epoch, checkpoint, and report "
                                          "accuracy on a held-out test split. OUT/lenet5.npz is replaced only "
                                          "at the end of a completed run.")
    p.add_argument("model", choices=["lenet5"], help="the network to train")
    p.add_argument("--out", type=output_dir, default="runs/lenet5",
                   help="folder for the checkpoint, weights and plots (default: %(default)s)")
    p.add_argument("--epochs", type=positive_int, default=15, help="epochs, >= 1 (default: %(default)s)")
    p.add_argument("--batch-size", type=positive_int, default=32, help="batch size, >= 1 (default: %(default)s)")
    p.add_argument("--lr", type=positive_float, default=3e-3,
                   help="peak learning rate of Adam's one-cycle schedule, > 0 (default: %(default)s)")
    p.add_argument("--seed", type=seed, default=0,
                   help="seed for initialisation, shuffling and augmentation, 0 to 2**32-1 (default: %(default)s)")
    p.add_argument("--no-augment", dest="augment", action="store_false", help="train without rotation/shear/shift augmentation")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.npz")
    p.add_argument("--data", metavar="DIR", type=existing_dir,
                   help="a folder holding the full MNIST idx files (default: the 5k digits)")
    p.add_argument("--limit", type=positive_int, help="train on at most this many images, >= 1 (quick runs)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.add_argument("--no-plots", dest="plots", action="store_false", help="skip the PNG plots")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel training over the ranks that mpiexec (or srun) started: --batch-size is "
                        "per rank, rank 0 writes every file (see README: Training on several machines)")
    p.set_defaults(func=_train)

    p = subparsers.add_parser("finetune", help="transfer learning: digits 0-4 -> 5-9 with 50 images per class",
                              description="Train LeNet-5 on digits 0-4, freeze its conv layers, replace the head and "
                                          "train on 50 images per class of digits 5-9; compare with the same network "
                                          "trained from scratch on those images (course M2.12).")
    p.add_argument("--out", type=output_dir, default="runs/finetune", help="output folder (default: %(default)s)")
    p.add_argument("--per-class", type=positive_int, default=50,
                   help="images per class of digits 5-9, 1 to 375 with the shipped digits (default: %(default)s)")
    p.add_argument("--pretrain-epochs", type=positive_int, default=4, help="epochs on digits 0-4, >= 1 (default: %(default)s)")
    p.add_argument("--epochs", type=positive_int, default=10, help="epochs on the small 5-9 set, >= 1 (default: %(default)s)")
    p.add_argument("--freeze", choices=["conv", "all"], default="conv",
                   help="freeze the conv layers (default) or every layer but the new head")
    p.add_argument("--seed", type=seed, default=0, help="seed, 0 to 2**32-1 (default: %(default)s)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.set_defaults(func=_finetune)

    p = subparsers.add_parser("experiment", help="reproducible experiments from the course")
    sub = p.add_subparsers(dest="experiment", metavar="EXPERIMENT", required=True)
    d = sub.add_parser("depth", help="training error against depth, plain vs residual networks (M2.06)",
                       description="Train plain and residual networks of increasing depth on the same small data and "
                                   "budget; plot final training error against depth for both.")
    d.add_argument("--depths", type=even_depths, default=(4, 10, 20, 30),
                   help="comma-separated numbers of weighted layers, each even and >= 4 (default: 4,10,20,30)")
    d.add_argument("--images", type=int_between(10, 5000), default=500,
                   help="training images, 10 to 5000 (default: %(default)s)")
    d.add_argument("--epochs", type=positive_int, default=4, help="epochs per network, >= 1 (default: %(default)s)")
    d.add_argument("--width", type=positive_int, default=8, help="channels of every conv, >= 1 (default: %(default)s)")
    d.add_argument("--seed", type=seed, default=0, help="seed, 0 to 2**32-1 (default: %(default)s)")
    d.add_argument("--out", type=output_dir, default="runs/depth", help="output folder (default: %(default)s)")
    d.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    d.set_defaults(func=_depth)

    p = subparsers.add_parser("predict", help="classify a picture of a digit with trained weights",
                              description="Read a picture (PIL), composite transparency onto white, make it grayscale "
                                          "28x28 (inverted if the background is light), and print the digit LeNet-5 "
                                          "sees and its probabilities.")
    p.add_argument("model", choices=["lenet5"], help="the network")
    p.add_argument("image", type=existing_file, help="a picture file (PNG, JPEG, ...)")
    p.add_argument("--weights", default=None,
                   help="10-class LeNet-5 weights .npz or a training checkpoint (default: runs/lenet5/lenet5.npz "
                        "when you have trained one, else the weights that ship with minigrad)")
    p.set_defaults(func=_predict)


def _train(args):
    from apps.digits.train import TrainConfig, train

    train(TrainConfig(out=args.out, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                      augment=args.augment, resume=args.resume, data=args.data, limit=args.limit,
                      progress=args.progress, plots=args.plots, distributed=args.distributed))
    return 0


def _finetune(args):
    from apps.digits.finetune import run_finetune

    result = run_finetune(out=args.out, per_class=args.per_class, pretrain_epochs=args.pretrain_epochs,
                          epochs=args.epochs, freeze=args.freeze, seed=args.seed, progress=args.progress)
    return 0 if result["frozen_identical"] else 1


def _depth(args):
    from apps.digits.depth import DepthConfig, run_depth

    run_depth(DepthConfig(depths=args.depths, images=args.images, epochs=args.epochs, width=args.width,
                          seed=args.seed, out=args.out, progress=args.progress))
    return 0


def _predict(args):
    from apps.digits.predict import predict

    from apps.digits.predict import default_weights

    digit, probs, has_digit = predict(args.weights or default_weights(), args.image)
    if not has_digit:
        print(f"minigrad predict: warning: no digit found in {args.image} (the picture is blank or nearly uniform); "
              f"the answer below means nothing", file=sys.stderr)
    print(f"digit: {digit}")
    print("probabilities: " + "  ".join(f"{d}: {p:.3f}" for d, p in enumerate(probs)))
    return 0
