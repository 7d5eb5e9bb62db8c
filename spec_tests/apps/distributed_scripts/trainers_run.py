"""The YOLO and faces trainers on MPI ranks, tiny: `trainers_run.py yolo OUT EPOCHS [resume]` or
`trainers_run.py faces OUT LOSS EPOCHS [resume]`.

yolo   apps.yolo.train.train with --distributed, EPOCHS of 32 scenes, batch 4 per rank, into OUT/run
       (k-means on 64 scenes and 4 validation and test scenes, so a run takes a few seconds); with
       "resume", continuing from OUT/run/checkpoint.npz.
faces  apps.faces.train.train with --distributed, EPOCHS of 2 steps of 4 identities x 2 views, into
       OUT/run (with "resume", continuing from its checkpoint); then every rank writes OUT/rank-<r>.npz:
       its encoder's weights and the labels of the batches it trained on (what the test compares
       across ranks; the trainer writes on rank 0 only).
"""

import os
import sys

import numpy as np

import minigrad as mg
import minigrad.distributed as dist

YOLO = dict(epochs=1, scenes=32, batch_size=4, lr=0.2, anchor_scenes=64, val_scenes=4, test_scenes=4, seed=3,
            progress=False)
FACES = dict(steps=2, identities=4, views=2, train_ids=tuple(range(8)), eval_ids=(50, 51, 52), seed=5,
             progress=False)


def yolo(out, epochs, resume):
    from apps.yolo.train import TrainConfig, train

    train(TrainConfig(out=os.path.join(out, "run"), distributed=True, resume=resume, **dict(YOLO, epochs=epochs)))


def faces(out, loss, epochs, resume):
    import apps.faces.train as faces_train

    seen = []

    class RecordedBatches(faces_train.PKBatches):
        def __iter__(self):
            for batch in super().__iter__():
                seen.append(batch[1])
                yield batch

    faces_train.PKBatches = RecordedBatches
    run = os.path.join(out, "run")
    config = faces_train.TrainConfig(loss=loss, out=run, weights=os.path.join(run, "faces.npz"), distributed=True,
                                     resume=resume, epochs=epochs, **FACES)
    encoder, _, _ = faces_train.train(config)
    mg.save({"model": encoder.net.state_dict(), "labels": np.stack(seen)},
            os.path.join(out, f"rank-{dist.rank()}.npz"))


if __name__ == "__main__":
    if sys.argv[1] == "yolo":
        yolo(sys.argv[2], int(sys.argv[3]), sys.argv[4:] == ["resume"])
    else:
        faces(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5:] == ["resume"])
