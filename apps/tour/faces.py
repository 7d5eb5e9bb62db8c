"""Faces (course module 4): a verification grid of pairs and rank-1 identification on unseen identities (apps.faces)."""

from apps.tour.context import Unavailable


def faces(ctx):
    try:
        from apps.faces import FaceEncoder  # noqa: F401
    except ImportError:
        raise Unavailable("the face recognition application (apps.faces.FaceEncoder) is not in this installation "
                          "yet") from None
    raise Unavailable("the faces section is not written yet")
