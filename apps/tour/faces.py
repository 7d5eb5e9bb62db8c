"""Faces (course module 4): a verification grid of pairs and rank-1 identification on unseen identities (apps.faces).

The identities are LFW's faces that the encoder never trained on (apps.faces.data.UNSEEN_IDS);
each photo is one identity and its views are seeded augmentations of it.
"""

import numpy as np

from apps.tour.context import Unavailable
from apps.tour.page import Item
from apps.tour.pictures import image_grid

PAIRS = 4   # same-person pairs and different-person pairs shown


def _encoder(ctx):
    try:
        from apps.faces import FaceEncoder, identify, verify  # noqa: F401
    except ImportError:
        raise Unavailable("the face recognition application (apps.faces.FaceEncoder) is not in this installation "
                          "yet") from None
    from apps.cli_args import CLIError

    if ctx.train:
        raise Unavailable("--train does not retrain the face encoder from the tour yet: run `minigrad faces train "
                          "--seed 0`, then the tour without --train")
    try:
        return FaceEncoder.load()
    except (CLIError, FileNotFoundError) as error:
        raise Unavailable(f"{error}. The shipped weights are missing: `minigrad faces train --seed 0`") from None


def faces(ctx):
    encoder = _encoder(ctx)
    from apps.faces import identify, verify
    from apps.faces.data import UNSEEN_IDS, load_lfw_faces, views_of

    per_face = ctx.pick(3, 6)
    people = load_lfw_faces()[UNSEEN_IDS]
    views = views_of(people, per_face, seed=ctx.seed + 1)                 # (people, per_face, 1, S, S)
    codes = encoder.encode_batch(views.reshape(-1, *views.shape[2:])).reshape(len(people), per_face, -1)
    tau = encoder.tau

    # Verification (1:1): pairs of views of one person, and of two people; d = ||f(a) - f(b)||^2 against tau.
    rng = np.random.default_rng(ctx.seed)
    shown, titles, colors = [], [], []
    same_right = diff_right = 0
    for i in range(len(people)):
        j = (i + 1 + int(rng.integers(len(people) - 1))) % len(people)
        for other, same in ((i, True), (j, False)):
            b = 1 if same else 0
            accepted, d = verify(codes[i, 0], codes[other, b], threshold=tau)
            right = accepted == same
            same_right += right and same
            diff_right += right and not same
            if i < PAIRS:
                shown += [views[i, 0, 0], views[other, b, 0]]
                verdict = "same" if accepted else "different"
                titles += [f"{'same' if same else 'diff.'} person", f"d={d:.2f}: {verdict}"]
                colors += ["black", "green" if right else "red"]
    order = [k for pair in range(2 * PAIRS) for k in (2 * pair, 2 * pair + 1)]
    image_grid([shown[k] for k in order], [titles[k] for k in order], ctx.path("faces_verify.png"), columns=8,
               size=1.25, title_colors=[colors[k] for k in order])

    # Recognition (1:K): the first view of every unseen person is the database; every other view asks who it is.
    database = {f"person {n}": codes[n, 0] for n in range(len(people))}
    hits = total = 0
    for n in range(len(people)):
        for v in range(1, per_face):
            name, _ = identify(codes[n, v], database, threshold=np.inf)
            hits += name == f"person {n}"
            total += 1
    n = len(people)
    return Item(
        "Face verification and recognition",
        "One-shot learning: the encoder f maps a 25 x 25 face to 128 numbers of norm 1, trained with the triplet "
        "loss max(||f(A) - f(P)||^2 - ||f(A) - f(N)||^2 + alpha, 0) so that views of one person land close and "
        f"different people far apart. Verification says 'same person' when d = ||f(x1) - f(x2)||^2 <= tau = "
        f"{tau:.2f}; recognition finds the nearest of the K people in the database. The {n} people here were "
        "never seen in training (LFW photos from scikit-image; a person's views are augmentations of one photo).",
        images=[("faces_verify.png", f"verification of {PAIRS} same and {PAIRS} different pairs, tau = {tau:.2f} "
                                     "(green: right, red: wrong)")],
        facts=[f"rank-1 identification: {100 * hits / total:.1f}% of {total} views of {n} unseen people",
               f"verification at tau = {tau:.2f}: {100 * same_right / n:.0f}% of same pairs accepted, "
               f"{100 * diff_right / n:.0f}% of different pairs rejected"],
        command="minigrad faces eval",
    )
