"""Style (course module 4): a stylised photo (content, style, result side by side) and the top-9 patches of a few units."""

from apps.tour.context import Unavailable


def transfer(ctx):
    try:
        from apps.style import transfer as _  # noqa: F401
    except ImportError:
        raise Unavailable("neural style transfer (apps.style.transfer) is not in this installation yet") from None
    raise Unavailable("the style section is not written yet")


def top_patches(ctx):
    raise Unavailable("the top-patches section is not written yet")
