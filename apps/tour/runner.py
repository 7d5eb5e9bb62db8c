"""The tour in course order: each part's items run guarded (one that cannot run says why and the rest goes on), with a progress line each and the total time at the end."""

import importlib
import os
import sys
import time
import traceback

from apps.tour.context import Unavailable
from apps.tour.page import FAILED, OK, UNAVAILABLE, Item, Section, timestamp, write_page

# (key, title, the course's words for the part, [(item key, "module:function", its title if it cannot run)])
PARTS = [
    ("foundations", "1. Foundations",
     "A convolution slides a small filter over an image; stacks of convolutions, pools and fully connected "
     "layers make a ConvNet. Its sizes follow one formula.",
     [("checklist", "foundations:checklist", "The course checklist"),
      ("edges", "foundations:edges", "Edge detection with a 3x3 filter"),
      ("output-size", "foundations:output_size", "The output size of a convolution")]),
    ("case-studies", "2. Case studies",
     "Reading the classic networks is the best way to learn to build one: LeNet-5, AlexNet, VGG, ResNet, "
     "Inception.",
     [("lenet", "case_studies:lenet", "LeNet-5 on real handwritten digits"),
      ("model-zoo", "case_studies:model_zoo", "The classic networks and their cost"),
      ("depth", "case_studies:depth", "Why residual networks: the depth experiment")]),
    ("detection", "3. Detection",
     "YOLO looks once: one convolutional pass predicts, for every grid cell and anchor box, an objectness "
     "p_c, a box and class probabilities; score filtering and non-max suppression keep the best boxes.",
     [("yolo", "detection:detection", "YOLO on scenes of digits")]),
    ("faces", "4. Faces",
     "Face verification (is this the claimed person?) and recognition (who is this?) with one-shot learning: "
     "a network f maps a face to 128 numbers trained with the triplet loss, and two faces are the same person "
     "when ||f(x1) - f(x2)||^2 is below a threshold.",
     [("faces", "faces:faces", "Face verification and recognition")]),
    ("style", "5. Style",
     "Neural style transfer generates an image G whose deep activations match a content image C and whose "
     "Gram matrices (the correlations between channels) match a style image S: J(G) = alpha J_content + "
     "beta J_style, minimised over G's pixels.",
     [("style-transfer", "style:transfer", "Neural style transfer"),
      ("top-patches", "style:top_patches", "What hidden units learn: the top-9 patches")]),
    ("speed", "6. Speed",
     "Everything above ran on minigrad's own kernels. How far are they from a production engine?",
     [("bench", "speed:speed", "How fast is it?")]),
]

SECTION_KEYS = [key for key, _, _, _ in PARTS]
ITEM_KEYS = [item for _, _, _, items in PARTS for item, _, _ in items]


def parse_only(text):
    """``--only detection,faces`` -> the set of item keys to run; a part's key names all of its items."""
    if not text:
        return set(ITEM_KEYS)
    chosen = set()
    for name in (n.strip() for n in text.split(",")):
        if not name:
            continue
        part = next((items for key, _, _, items in PARTS if key == name), None)
        if part is not None:
            chosen.update(item for item, _, _ in part)
        elif name in ITEM_KEYS:
            chosen.add(name)
        else:
            raise ValueError(f"--only: unknown section {name!r}; choose from {', '.join(SECTION_KEYS)} "
                             f"or the items {', '.join(ITEM_KEYS)}")
    return chosen


def _run_item(ctx, key, target, title):
    """Run one item; whatever goes wrong becomes an Item that says so (UNAVAILABLE or FAILED)."""
    module_name, function = target.split(":")
    started = time.perf_counter()
    try:
        runner = getattr(importlib.import_module(f"apps.tour.{module_name}"), function)
        item = runner(ctx)
    except Unavailable as why:
        item = Item(title, status=UNAVAILABLE, reason=str(why))
    except KeyboardInterrupt:
        raise
    except Exception as error:  # a bug in one part must not cost the user the rest of the tour
        last = traceback.extract_tb(error.__traceback__)[-1]
        item = Item(title, status=FAILED,
                    reason=f"{type(error).__name__}: {error} (at {os.path.basename(last.filename)}:{last.lineno}; "
                           f"run `minigrad tour --only {key}` with --debug for the traceback)")
        if ctx.debug:
            traceback.print_exc()
    item.seconds = time.perf_counter() - started
    if item.status == OK and not item.command:
        item.command = f"minigrad tour --only {key}"
    return item


def run_tour(ctx, only=None, log=None):
    """Run the chosen items in course order, write index.html after each (a partial page is still a page); returns (path, items)."""
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    chosen = parse_only(only) if isinstance(only, str) or only is None else set(only)
    os.makedirs(ctx.out, exist_ok=True)
    todo = [(part, item) for part in PARTS for item in part[3] if item[0] in chosen]
    started = time.perf_counter()
    sections, done = [], []
    path = None
    for n, ((key, title, intro, _), (item_key, target, item_title)) in enumerate(todo, 1):
        if not sections or sections[-1].key != key:
            sections.append(Section(key, title, intro))
        log(f"[{n}/{len(todo)}] {title[3:]}: {item_title} ...")
        item = _run_item(ctx, item_key, target, item_title)
        sections[-1].items.append(item)
        done.append(item)
        note = "" if item.status == OK else f" -- {item.status}: {item.reason}"
        log(f"[{n}/{len(todo)}] {title[3:]}: {item_title}: {item.status} ({item.seconds:.1f} s){note}")
        path = write_page(sections, ctx.out, _meta(ctx, time.perf_counter() - started))
    total = time.perf_counter() - started
    path = write_page(sections, ctx.out, _meta(ctx, total))
    ran = sum(i.status == OK for i in done)
    log(f"minigrad tour: {ran}/{len(done)} parts ran in {total:.0f} s; open {os.path.abspath(path)}")
    return path, done


def _meta(ctx, seconds):
    mode = "--quick (a smaller budget for every section)" if ctx.quick else "the full budget"
    weights = "retrained from scratch (--train)" if ctx.train else "the shipped weights where they exist"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"Made {timestamp()} in {seconds:.0f} s with {mode}, {weights}; {os.cpu_count()} CPU cores, "
            f"load average {load:.1f} at the end.")
