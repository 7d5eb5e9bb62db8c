"""`minigrad yolo train | detect | eval | anchors`: the detector from the command line."""

import os
import sys

from apps.cli_args import CLIError, existing_dir, fraction, output_dir, output_file, positive_float, positive_int, seed


def register(subparsers):
    p = subparsers.add_parser("yolo", help="YOLO object detection on digit scenes: train, detect, eval, anchors",
                              description="A small YOLO detector trained on scenes of handwritten digits.")
    sub = p.add_subparsers(dest="yolo_command", metavar="ACTION", required=True)

    t = sub.add_parser("train", help="train the detector (about 10 min on 2 quiet cores)",
                       description="k-means anchors, then fresh digit scenes every epoch, the YOLO loss and Adam; "
                                   "a checkpoint after each epoch (--resume continues), validation mAP@0.5 each "
                                   "epoch, the weights at the end and mAP on 500 held-out test scenes.")
    t.add_argument("--out", type=output_dir, default="runs/yolo", help="folder for checkpoint and weights (default: %(default)s)")
    t.add_argument("--weights", type=output_file, help="where to write the final weights (default: OUT/yolo.npz)")
    t.add_argument("--epochs", type=positive_int, default=None, help="epochs (default: 15)")
    t.add_argument("--scenes", type=positive_int, default=None, help="new training scenes per epoch (default: 2000)")
    t.add_argument("--batch-size", type=positive_int, default=None, help="batch size (default: 32)")
    t.add_argument("--lr", type=positive_float, default=None, help="peak learning rate of Adam (default: 0.002)")
    t.add_argument("--anchors", type=positive_int, default=None, help="anchor boxes per cell, B (default: 3)")
    t.add_argument("--test-scenes", type=positive_int, default=None, help="test scenes scored at the end (default: 500)")
    t.add_argument("--data", type=existing_dir, help="train on a labelled folder instead of digit scenes (images + "
                                                     "NAME.txt with lines 'class_id x1 y1 x2 y2' in pixels)")
    t.add_argument("--no-rescore", dest="rescore", action="store_false",
                   help="objectness target 1 instead of the IoU of the predicted box with the truth")
    t.add_argument("--seed", type=seed, default=0, help="seed of initialisation and training scenes (default: %(default)s)")
    t.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.npz")
    t.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    t.add_argument("--distributed", action="store_true",
                   help="data-parallel training over the ranks that mpiexec (or srun) started: --batch-size is "
                        "per rank, rank 0 writes every file (see README: Training on several machines)")
    t.set_defaults(func=_train)

    d = sub.add_parser("detect", help="draw labelled boxes on images",
                       description="Detect digits in images of any size and mode (letterboxed to 96 x 96; boxes "
                                   "mapped back to the original pixels). An image that cannot be read gets one "
                                   "line on stderr and the others are still processed (exit code 2 then).")
    d.add_argument("images", nargs="+", help="image files (PNG, JPEG, ...)")
    d.add_argument("--out", type=output_dir, help="folder for the images with drawn boxes (<name>.png)")
    d.add_argument("--json", type=output_file, help="write every detection to this JSON file")
    d.add_argument("--weights", help="weights .npz (default: the shipped ones)")
    d.add_argument("--threshold", type=fraction, default=0.5, help="smallest score p_c x c_i shown (default: %(default)s)")
    d.add_argument("--iou", type=fraction, default=0.45, help="non-max suppression IoU threshold (default: %(default)s)")
    d.set_defaults(func=_detect)

    e = sub.add_parser("eval", help="mAP@0.5, mAP@0.5:0.95, AP per class and a precision-recall curve",
                       description="Score the detector on held-out test scenes (or a labelled folder) the way "
                                   "the field does: COCO-style AP with 101-point interpolation.")
    e.add_argument("--weights", help="weights .npz (default: the shipped ones)")
    e.add_argument("--scenes", type=positive_int, default=500, help="test scenes (default: %(default)s)")
    e.add_argument("--data", type=existing_dir, help="a labelled folder instead (images + one NAME.txt per image "
                                                     "with lines 'class_id x1 y1 x2 y2' in pixels)")
    e.add_argument("--out", type=output_dir, default="runs/yolo", help="folder for pr_curve.png (default: %(default)s)")
    e.set_defaults(func=_eval)

    a = sub.add_parser("anchors", help="k-means anchor boxes (1 - IoU distance) from the training boxes",
                       description="Run YOLOv2's k-means on the shapes of the training scenes' boxes; print the "
                                   "anchors and plot the clusters.")
    a.add_argument("-k", type=positive_int, default=3, help="number of anchors (default: %(default)s)")
    a.add_argument("--scenes", type=positive_int, default=2000, help="training scenes to take boxes from (default: %(default)s)")
    a.add_argument("--seed", type=seed, default=0, help="seed (default: %(default)s)")
    a.add_argument("--plot", type=output_file, default="runs/yolo/anchors.png", help="PNG of the clusters (default: %(default)s)")
    a.set_defaults(func=_anchors)


def _load_detector(weights, **options):
    from apps.yolo.detect import Detector

    try:
        return Detector.load(weights, **options)
    except (FileNotFoundError, ValueError, KeyError) as error:
        raise CLIError(str(error)) from None


def _train(args):
    from apps.fit import CheckpointError
    from apps.yolo.train import TrainConfig, train

    config = TrainConfig(out=args.out, weights=args.weights, seed=args.seed, resume=args.resume, progress=args.progress,
                         rescore=args.rescore, data=args.data, distributed=args.distributed)
    for name in ("epochs", "scenes", "batch_size", "lr", "anchors", "test_scenes"):
        if getattr(args, name) is not None:
            setattr(config, name, getattr(args, name))
    try:
        train(config)
    except CheckpointError:
        raise
    except ValueError as error:
        raise CLIError(str(error)) from None
    return 0


def _detect(args):
    from apps.yolo.detect import to_gray
    from apps.yolo.draw import detections_json, draw_boxes, save_png, viewable, write_json

    detector = _load_detector(args.weights, score_threshold=args.threshold, iou_threshold=args.iou)
    readable, failed = [], 0
    for path in args.images:
        try:
            readable.append((path, to_gray(path)))
        except (OSError, ValueError, SyntaxError) as error:   # PIL raises all three for unreadable files
            failed += 1
            reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error).splitlines()[0]
            print(f"minigrad yolo detect: error: cannot read {path}: {reason}", file=sys.stderr)
    results = detector.detect([gray for _, gray in readable]) if readable else []
    entries = []
    for (path, gray), (boxes, scores, classes) in zip(readable, results):
        height, width = gray.shape
        entries.append((path, width, height, (boxes, scores, classes)))
        found = ", ".join(f"{c} ({s:.2f})" for c, s in zip(classes, scores)) or "nothing"
        print(f"{path}: {found}")
        if args.out:
            stem = os.path.splitext(os.path.basename(path))[0]
            save_png(draw_boxes(viewable(path, gray), boxes, scores, classes), os.path.join(args.out, f"{stem}.png"))
    if args.json:
        write_json(detections_json(entries), args.json)
    return 2 if failed else 0


def _eval(args):
    import numpy as np

    from apps.yolo.metrics import evaluate_detections, plot_pr_curves
    from apps.yolo.scenes import CLASS_NAMES, SceneSet, load_folder
    from apps.yolo.train import detect_scenes

    detector = _load_detector(args.weights)
    if args.data:
        try:
            items = load_folder(args.data)
        except ValueError as error:
            raise CLIError(str(error)) from None
        detections = detector.detect([path for path, _, _ in items], score_threshold=0.01)
        truths = [(boxes, classes) for _, boxes, classes in items]
        source = f"{len(items)} images of {args.data}"
    else:
        detections, truths = detect_scenes(detector, SceneSet("test", args.scenes, seed=0), progress=True)
        source = f"{args.scenes} test scenes of held-out digits"
    result = evaluate_detections(detections, truths, len(CLASS_NAMES))
    print(f"{source}: mAP@0.5 {result['map50']:.3f}   mAP@0.5:0.95 {result['map']:.3f}")
    print("class  boxes  AP@0.5  AP@0.5:0.95")
    for cls, name in enumerate(CLASS_NAMES):
        ap50, ap = result["ap50_per_class"][cls], result["ap_per_class"][cls]
        print(f"{name:>5}  {result['n_true'][cls]:5d}  {ap50:6.3f}  {ap:11.3f}" if not np.isnan(ap50)
              else f"{name:>5}  {0:5d}       -            -")
    path = plot_pr_curves(detections, truths, os.path.join(args.out, "pr_curve.png"), CLASS_NAMES)
    print(f"precision-recall curve -> {path}")
    return 0


def _anchors(args):
    import numpy as np

    from apps.yolo.anchors import plot_anchors
    from apps.yolo.model import INPUT_SIZE
    from apps.yolo.train import training_anchors

    try:
        anchors, mean_iou, shapes = training_anchors(args.k, args.seed, n=args.scenes)
    except ValueError as error:
        # k-means needs at least k boxes: name the options, not the formula's argument.
        raise CLIError(f"-k {args.k} is more than the boxes in --scenes {args.scenes} ({error}); "
                       f"lower -k or raise --scenes") from None
    print(f"{args.k} anchors from {len(shapes)} boxes of {args.scenes} training scenes (mean IoU {mean_iou:.3f}):")
    for h, w in anchors * INPUT_SIZE:
        print(f"  b_h {h:5.1f} px   b_w {w:5.1f} px")
    os.makedirs(os.path.dirname(os.path.abspath(args.plot)), exist_ok=True)
    print(f"plot -> {plot_anchors(shapes * INPUT_SIZE, np.asarray(anchors) * INPUT_SIZE, args.plot)}")
    return 0
