"""Faces (course module 4): a verification grid of pairs and rank-1 identification on unseen identities (apps.faces).

The numbers are apps.faces.eval's protocol (the 50 LFW identities the encoder never trained
on, each enrolled with one view and queried with five); the grid shows a few of its pairs.
"""

import numpy as np

from apps.tour.context import Unavailable
from apps.tour.page import Item
from apps.tour.pictures import image_grid

PAIRS = 4   # same-person pairs and different-person pairs shown


def _encoder(ctx):
    """The shipped FaceEncoder, or (with --train) one trained from scratch by apps.faces' own training."""
    try:
        from apps.faces.encoder import FaceEncoder
        from apps.faces.eval import evaluate  # noqa: F401
    except ImportError:
        raise Unavailable("the face recognition application (apps.faces) is not in this installation yet") from None
    from apps.cli_args import CLIError

    if ctx.train:
        import os

        from apps.faces.train import TrainConfig, train

        out = ctx.scratch("faces")
        config = TrainConfig(seed=ctx.seed, out=out, weights=os.path.join(out, "faces.npz"), progress=False)
        encoder, _, _ = train(config, log=lambda line: None)
        return encoder, "trained from scratch (--train)"
    try:
        return FaceEncoder.load(), "the shipped encoder"
    except (CLIError, FileNotFoundError) as error:
        raise Unavailable(f"{error} (the shipped weights are missing)") from None


def faces(ctx):
    encoder, source = _encoder(ctx)
    from apps.faces import verify
    from apps.faces.eval import evaluate, plot_roc, protocol_views

    result = evaluate(encoder.encode_batch)
    tau = encoder.tau
    plot_roc({"triplet-loss encoder": result["roc"]}, ctx.path("faces_roc.png"))

    # The grid: enrolled face k against a query of person k (same) and of person k+1 (different).
    enrolled, queries, labels = protocol_views()
    shown, titles, colors = [], [], []
    for k in range(PAIRS):
        for other, same in ((k, True), ((k + 1) % len(enrolled), False)):
            query = queries[np.flatnonzero(labels == other)[0]]
            codes = encoder.encode_batch(np.stack([enrolled[k], query]))
            accepted, d = verify(codes[0], codes[1], threshold=tau)
            shown += [enrolled[k, 0], query[0]]
            titles += ["same person" if same else "different", f"d={d:.2f}: {'same' if accepted else 'not same'}"]
            colors += ["black", "green" if accepted == same else "red"]
    image_grid(shown, titles, ctx.path("faces_verify.png"), columns=8, size=1.25, title_colors=colors)
    people = len(enrolled)
    return Item(
        "Face verification and recognition",
        "One-shot learning: the encoder f maps a 25 x 25 face to 128 numbers of norm 1, trained with the triplet "
        "loss max(||f(A) - f(P)||^2 - ||f(A) - f(N)||^2 + alpha, 0) so that views of one person land close and "
        "different people far apart. Verification says 'same person' when d = ||f(x1) - f(x2)||^2 <= tau "
        f"(here {tau:.2f}); recognition finds the nearest of the K enrolled people. The {people} people here were "
        "never seen in training (LFW photos from scikit-image; a person's views are augmentations of one photo). "
        f"The encoder is {source}.",
        images=[("faces_verify.png", f"{PAIRS} same and {PAIRS} different pairs at tau = {tau:.2f} (green: right, "
                                     "red: wrong)"),
                ("faces_roc.png", "verification: true accepts against false accepts as tau moves")],
        facts=[f"rank-1 identification: {100 * result['rank1']:.1f}% of {len(queries)} queries of {people} unseen "
               f"people", f"verification AUC {result['auc']:.3f}; at FAR 1e-2, TAR {result['tar_far_1e-2']:.3f}"],
        command="minigrad faces eval",
    )
