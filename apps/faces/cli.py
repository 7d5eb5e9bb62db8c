"""`minigrad faces`: train, compare, eval, enroll, verify, identify."""

import argparse
import json
import os
import tempfile

from apps.cli_args import (CLIError, existing_dir, existing_file, int_at_least, output_dir, output_file, positive_float,
                           positive_int, seed)


def register(subparsers):
    faces = subparsers.add_parser("faces", help="face recognition: a Siamese encoder trained with triplet loss",
                                  description="Face verification and recognition with a Siamese network (course module 4).")
    # An action is required, as for `minigrad yolo`: without one it is a usage error (exit 2).
    commands = faces.add_subparsers(dest="faces_command", metavar="ACTION", required=True)

    train = commands.add_parser("train", help="train the encoder on LFW faces 0-49 (a few minutes on 2 cores)")
    _training_options(train)
    train.add_argument("--loss", choices=("triplet", "binary"), default="triplet",
                       help="triplet loss with semi-hard mining, or the binary verification head (default triplet)")
    train.add_argument("--weights", type=output_file, default=None,
                       help="where the trained encoder goes (default: the package's apps/faces/weights/faces.npz)")
    train.add_argument("--resume", action="store_true", help="continue from the last whole epoch of --out")
    train.add_argument("--distributed", action="store_true",
                       help="data-parallel training over the ranks that mpiexec (or srun) started: each rank mines "
                            "its own P x K batch, rank 0 writes every file (see README: Training on several machines)")
    train.set_defaults(func=_train)

    compare = commands.add_parser("compare", help="train triplet and binary on the same budget; both ROC curves in one PNG")
    _training_options(compare)
    compare.add_argument("--png", type=output_file, default="runs/faces/compare_roc.png", help="the ROC plot")
    compare.set_defaults(func=_compare)

    evaluate = commands.add_parser("eval", help="ROC, AUC, TAR at FAR 1e-2 and 1e-3, rank-1 and tau on the 50 unseen faces")
    evaluate.add_argument("--weights", type=existing_file, default=None, help="an encoder (default: the shipped one)")
    evaluate.add_argument("--png", type=output_file, default="runs/faces/roc.png", help="the ROC plot")
    evaluate.add_argument("--json", type=output_file, default=None, help="also write the numbers as JSON")
    evaluate.set_defaults(func=_eval)

    enroll = commands.add_parser("enroll", help="add people/<name>/*.jpg to a face database")
    enroll.add_argument("people", type=existing_dir, help="a folder with one folder of photos per person")
    _db_options(enroll, must_exist=False)
    enroll.set_defaults(func=_enroll)

    verify = commands.add_parser("verify", help="is this photo the enrolled person NAME? (same, distance, tau)")
    verify.add_argument("image", type=existing_file)
    verify.add_argument("--as", dest="name", required=True, help="the enrolled name to check against")
    _db_options(verify, must_exist=True)
    verify.add_argument("--threshold", type=positive_float, default=None, help="tau (default: the encoder's)")
    verify.set_defaults(func=_verify)

    identify = commands.add_parser("identify", help="who among the enrolled people is this? (or unknown beyond tau)")
    identify.add_argument("image", type=existing_file)
    _db_options(identify, must_exist=True)
    identify.add_argument("--top", type=positive_int, default=3, help="how many nearest people to list (default 3)")
    identify.add_argument("--threshold", type=positive_float, default=None, help="tau (default: the encoder's)")
    identify.add_argument("--json", type=output_file, default=None, help="write the matches as JSON")
    identify.set_defaults(func=_identify)


def _training_options(parser):
    from apps.faces.train import TrainConfig

    d = TrainConfig()
    parser.add_argument("--epochs", type=positive_int, default=d.epochs, help=f"default {d.epochs}")
    parser.add_argument("--steps", type=positive_int, default=d.steps, help=f"steps per epoch (default {d.steps})")
    # A triplet's negative (or a binary pair's "different") needs a second identity in the batch: with one, the loss
    # has nothing to push apart, and a run would "finish" and replace the shipped encoder with an untrained one.
    parser.add_argument("--identities", type=int_at_least(2), default=d.identities,
                        help=f"P: identities per batch, >= 2 (default {d.identities})")
    parser.add_argument("--views", type=int_at_least(2), default=d.views, help=f"K: views per identity (default {d.views})")
    parser.add_argument("--lr", type=positive_float, default=d.lr, help=f"peak learning rate (default {d.lr})")
    parser.add_argument("--margin", type=positive_float, default=d.margin, help=f"alpha (default {d.margin})")
    parser.add_argument("--seed", type=seed, default=d.seed, help="seed, 0 to 2**32-1 (default: %(default)s)")
    parser.add_argument("--out", type=output_dir, default=d.out, help=f"checkpoints (default {d.out})")


def _db_options(parser, must_exist):
    parser.add_argument("--db", type=existing_file if must_exist else output_file, required=True,
                        help="the face database (.npz)")
    parser.add_argument("--weights", type=existing_file, default=None, help="an encoder (default: the shipped one)")


def _config(args, loss):
    from apps.faces.train import TrainConfig

    return TrainConfig(loss=loss, epochs=args.epochs, steps=args.steps, identities=args.identities, views=args.views,
                       lr=args.lr, margin=args.margin, seed=args.seed, out=args.out)


def _summary(metrics):
    return (f"rank-1 {metrics['rank1']:.1%} | AUC {metrics['auc']:.4f} | TAR@FAR=1e-2 {metrics['tar_far_1e-2']:.1%}"
            f" | TAR@FAR=1e-3 {metrics['tar_far_1e-3']:.1%} | tau {metrics['tau']:.4f}"
            f" ({metrics['genuine_pairs']} genuine, {metrics['impostor_pairs']} impostor pairs)")


def _train(args):
    from apps.faces.train import train

    config = _config(args, args.loss)
    config.resume, config.distributed = args.resume, args.distributed
    if args.weights:
        config.weights = args.weights
    else:                                  # the package's own file: check now that it can be written, not after training
        try:
            output_file(config.weights)
        except argparse.ArgumentTypeError as error:
            raise CLIError(f"cannot write the encoder to {config.weights} ({error}): pass --weights PATH") from None
    encoder, metrics, result = train(config)
    if metrics is None:                    # another rank than 0 of a --distributed run: rank 0 reports
        return
    print(f"trained in {result.seconds:.0f} s; on the 50 unseen identities: {_summary(metrics)}")
    print(f"wrote {config.weights}")


def _compare(args):
    from apps.faces.eval import plot_roc
    from apps.faces.train import train

    curves = {}
    for loss in ("triplet", "binary"):
        config = _config(args, loss)
        _, metrics, result = train(config, write=False)
        print(f"{loss}: {result.seconds:.0f} s, {_summary(metrics)}")
        curves[f"{loss} (AUC {metrics['auc']:.3f}, rank-1 {metrics['rank1']:.0%})"] = metrics["roc"]
    print(f"wrote {plot_roc(curves, args.png, 'Triplet loss vs binary head, same budget')}")


def _eval(args):
    from apps.faces.encoder import FaceEncoder
    from apps.faces.eval import evaluate, plot_roc

    encoder = FaceEncoder.load(args.weights)
    metrics = evaluate(encoder.encode_batch)
    print(_summary(metrics))
    label = f"{encoder.meta.get('loss', 'triplet')} encoder, squared distance (AUC {metrics['auc']:.4f})"
    print(f"wrote {plot_roc({label: metrics['roc']}, args.png)}")
    if args.json:
        numbers = {k: v for k, v in metrics.items() if k != "roc"}
        write_json(numbers, args.json)


def write_json(obj, path):
    """Write JSON atomically: a temp file beside ``path``, then os.replace."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _encoder(args):
    from apps.faces.encoder import FaceEncoder

    return FaceEncoder.load(args.weights)


def _enroll(args):
    from apps.faces.data import read_image, read_people
    from apps.faces.database import FaceDatabase

    people = read_people(args.people)                     # every check comes before any work or write
    encoder = _encoder(args)
    db = FaceDatabase.open_or_new(args.db, encoder.encoding_size)
    pictures = {name: [read_image(path) for path in paths] for name, paths in people.items()}
    for name, images in pictures.items():
        db.add(name, encoder.encode(images), people[name])
    db.save(args.db)
    added = sum(len(p) for p in people.values())
    print(f"enrolled {added} picture(s) of {len(people)} person(s) into {args.db}: "
          f"{len(db.people)} people, {len(db)} pictures in all")


def _query(args, name=None):
    """(database, encoding of the query picture, tau), every input checked before any answer."""
    from apps.faces.data import read_image
    from apps.faces.database import FaceDatabase

    encoder = _encoder(args)
    db = FaceDatabase.load(args.db)
    db.check_encoder(encoder.encoding_size, args.db)
    if name is not None:
        db.check_name(name)
    image = read_image(args.image)
    tau = args.threshold if args.threshold is not None else encoder.tau
    return db, encoder.encode([image])[0], tau


def _verify(args):
    db, encoding, tau = _query(args, name=args.name)
    same, d, tau = db.verify(encoding, args.name, tau)
    print(f"{'same' if same else 'not the same'}: {args.image} {'is' if same else 'is not'} {args.name} "
          f"(distance {d:.4f}, tau {tau:.4f})")


def _identify(args):
    db, encoding, tau = _query(args)
    identity, ranked = db.identify(encoding, tau, args.top)
    print(f"{args.image}: {identity if identity is not None else 'unknown'} (tau {tau:.4f})")
    for name, d in ranked:
        print(f"  {name:20s} distance {d:.4f}")
    if args.json:
        write_json({"matches": [{"name": name, "distance": round(float(d), 6)} for name, d in ranked],
                    "threshold": float(tau), "identity": identity}, args.json)
