"""Face recognition on the engine: the Siamese network and triplet loss (course module 4).

    formulas.py   the course's formulas: distance, verify, identify, the binary VerificationHead
    data.py       LFW's 100 faces (scikit-image), views by augmentation, the split by identity, people/ folders
    encoder.py    f(x): a small ResNet -> 128 numbers of norm 1; FaceEncoder.load(path=None).encode(images)
    train.py      triplet loss with online semi-hard mining, or the binary head with BCE, on apps.fit
    database.py   enrolled encodings by name in a plain .npz (no pickle), written atomically
    eval.py       ROC, AUC, TAR at FAR, rank-1 and the threshold tau on the 50 unseen identities
    cli.py        `minigrad faces train|compare|eval|enroll|verify|identify`
"""

from apps.faces.encoder import FaceEncoder  # noqa: F401
from apps.faces.formulas import VerificationHead, distance, encode, identify, verify  # noqa: F401

