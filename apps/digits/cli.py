"""`minigrad train`, `finetune`, `experiment depth` and `predict`: the digits applications from the command line."""

import sys


def register(subparsers):
    p = subparsers.add_parser("train", help="train a model on the handwritten digits (LeNet-5)",
                              description="Train LeNet-5 on the 5k MNIST digits that ship with minigrad (or full "
                                          "MNIST with --data), validate each epoch, checkpoint, and report "
                                          "accuracy on a held-out test split.")
    p.add_argument("model", choices=["lenet5"], help="the network to train")
    p.add_argument("--out", default="runs/lenet5", help="folder for the checkpoint, weights and plots (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=15, help="epochs (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=32, help="batch size (default: %(default)s)")
    p.add_argument("--lr", type=float, default=3e-3, help="peak learning rate of Adam's one-cycle schedule (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed for initialisation, shuffling and augmentation (default: %(default)s)")
    p.add_argument("--no-augment", dest="augment", action="store_false", help="train without rotation/shear/shift augmentation")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.npz")
    p.add_argument("--data", metavar="DIR", help="a folder holding the full MNIST idx files (default: the 5k digits)")
    p.add_argument("--limit", type=int, help="train on at most this many images (quick runs)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.add_argument("--no-plots", dest="plots", action="store_false", help="skip the PNG plots")
    p.set_defaults(func=_train)

    p = subparsers.add_parser("finetune", help="transfer learning: digits 0-4 -> 5-9 with 50 images per class",
                              description="Train LeNet-5 on digits 0-4, freeze its conv layers, replace the head and "
                                          "train on 50 images per class of digits 5-9; compare with the same network "
                                          "trained from scratch on those images (course M2.12).")
    p.add_argument("--out", default="runs/finetune", help="output folder (default: %(default)s)")
    p.add_argument("--per-class", type=int, default=50, help="images per class of digits 5-9 (default: %(default)s)")
    p.add_argument("--pretrain-epochs", type=int, default=4, help="epochs on digits 0-4 (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=10, help="epochs on the small 5-9 set (default: %(default)s)")
    p.add_argument("--freeze", choices=["conv", "all"], default="conv",
                   help="freeze the conv layers (default) or every layer but the new head")
    p.add_argument("--seed", type=int, default=0, help="seed (default: %(default)s)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.set_defaults(func=_finetune)

    p = subparsers.add_parser("experiment", help="reproducible experiments from the course")
    sub = p.add_subparsers(dest="experiment", metavar="EXPERIMENT", required=True)
    d = sub.add_parser("depth", help="training error against depth, plain vs residual networks (M2.06)",
                       description="Train plain and residual networks of increasing depth on the same small data and "
                                   "budget; plot final training error against depth for both.")
    d.add_argument("--depths", default=None, help="comma-separated numbers of weighted layers (default: 4,10,20,30)")
    d.add_argument("--images", type=int, default=None, help="training images (default: 500)")
    d.add_argument("--epochs", type=int, default=None, help="epochs per network (default: 4)")
    d.add_argument("--width", type=int, default=None, help="channels of every conv (default: 8)")
    d.add_argument("--seed", type=int, default=0, help="seed (default: %(default)s)")
    d.add_argument("--out", default="runs/depth", help="output folder (default: %(default)s)")
    d.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    d.set_defaults(func=_depth)

    p = subparsers.add_parser("predict", help="classify a picture of a digit with trained weights",
                              description="Read a picture (PIL), make it grayscale 28x28 (inverted if the background is "
                                          "light), and print the digit LeNet-5 sees and its probabilities.")
    p.add_argument("model", choices=["lenet5"], help="the network")
    p.add_argument("image", help="a picture file (PNG, JPEG, ...)")
    p.add_argument("--weights", default="runs/lenet5/lenet5.npz", help="weights .npz (default: %(default)s)")
    p.set_defaults(func=_predict)


def _fail(message):
    print(f"minigrad: error: {message}", file=sys.stderr)
    return 2


def _train(args):
    from apps.digits.train import CheckpointError, TrainConfig, train

    config = TrainConfig(out=args.out, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                         augment=args.augment, resume=args.resume, data=args.data, limit=args.limit,
                         progress=args.progress, plots=args.plots)
    try:
        train(config)
    except (CheckpointError, FileNotFoundError, ValueError) as error:
        return _fail(error)
    except KeyboardInterrupt:
        return 130
    return 0


def _finetune(args):
    from apps.digits.finetune import run_finetune

    try:
        result = run_finetune(out=args.out, per_class=args.per_class, pretrain_epochs=args.pretrain_epochs,
                              epochs=args.epochs, freeze=args.freeze, seed=args.seed, progress=args.progress)
    except (FileNotFoundError, ValueError) as error:
        return _fail(error)
    return 0 if result["frozen_identical"] else 1


def _depth(args):
    from apps.digits.depth import DepthConfig, run_depth

    config = DepthConfig(seed=args.seed, out=args.out, progress=args.progress)
    if args.depths:
        config.depths = tuple(int(d) for d in args.depths.split(","))
    for name in ("images", "epochs", "width"):
        if getattr(args, name) is not None:
            setattr(config, name, getattr(args, name))
    try:
        run_depth(config)
    except ValueError as error:
        return _fail(error)
    return 0


def _predict(args):
    from apps.digits.train import CheckpointError, predict

    try:
        digit, probs = predict(args.weights, args.image)
    except (CheckpointError, FileNotFoundError, ValueError) as error:
        return _fail(error)
    print(f"digit: {digit}")
    print("probabilities: " + "  ".join(f"{d}: {p:.3f}" for d, p in enumerate(probs)))
    return 0
