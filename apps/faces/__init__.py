"""Face recognition on the engine: the Siamese network and triplet loss (course module 4).

    formulas.py   the course's formulas: distance, verify, identify, the binary VerificationHead
"""

from apps.faces.formulas import VerificationHead, distance, encode, identify, verify  # noqa: F401
