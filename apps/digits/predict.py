"""`minigrad predict lenet5 IMAGE`: read any picture the way LeNet-5 saw the digits, and classify it.

A picture is composited onto white (a drawing app saves a black digit on a transparent
background), made grayscale 28x28, inverted when its background is light (MNIST digits
are white on black), stretched to [0, 1] and padded to 32x32. A blank or near-uniform
picture has no digit to read: ``predict`` says so instead of answering with confidence.
"""

import os

import numpy as np

import minigrad as mg

from apps.cli_args import CLIError
from apps.digits.data import make_model

# A picture whose darkest and lightest pixels differ by less than this (of the 0-255
# range) holds no strokes: no digit can be read from it.
MIN_CONTRAST = 0.1


def load_image(path):
    """(a 1x1x32x32 float32 batch, whether the picture holds any stroke at all)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
                rgba = image.convert("RGBA")
                white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                image = Image.alpha_composite(white, rgba)
            gray = image.convert("L").resize((28, 28), Image.BILINEAR)
    except FileNotFoundError:
        raise CLIError(f"image not found: {path}") from None
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise CLIError(f"could not read {path} as an image: {error}") from None
    pixels = np.asarray(gray, dtype=np.float32) / 255.0
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    if border.mean() > 0.5:
        pixels = 1.0 - pixels
    low, high = float(pixels.min()), float(pixels.max())
    has_digit = high - low >= MIN_CONTRAST
    if high > low:
        pixels = (pixels - low) / (high - low)
    return np.pad(pixels, 2)[None, None], has_digit


def _head_size(state):
    """The number of outputs of the last layer in a LeNet-5 state dict, or None if it has no such layer."""
    bias = state.get("classifier.4.bias")
    return None if bias is None else int(np.prod(np.shape(bias.numpy() if isinstance(bias, mg.Tensor) else bias)))


# The LeNet-5 that ships inside the package, made by `minigrad train lenet5 --seed 0` (98.1% on the held-out digits).
SHIPPED_WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights", "lenet5.npz")
USER_WEIGHTS = os.path.join("runs", "lenet5", "lenet5.npz")


def default_weights():
    """Your own `minigrad train lenet5` run when there is one here, else the shipped weights."""
    return USER_WEIGHTS if os.path.isfile(USER_WEIGHTS) else SHIPPED_WEIGHTS


def load_weights(weights):
    """A 10-class LeNet-5 from ``weights`` (a weights .npz or a training checkpoint); CLIError if it does not fit."""
    try:
        state = mg.load(weights)
    except FileNotFoundError:
        raise CLIError(f"no weights at {weights}: train first with `minigrad train lenet5`, or pass --weights") from None
    except (ValueError, OSError, KeyError) as error:
        raise CLIError(f"--weights {weights} is not a minigrad weights file: {error}") from None
    if not isinstance(state, dict):
        raise CLIError(f"--weights {weights} holds a single array, not a state dict")
    if isinstance(state.get("model"), dict):
        state = state["model"]  # a training checkpoint works too
    outputs = _head_size(state)
    if outputs is not None and outputs != 10:
        raise CLIError(f"--weights {weights} holds a LeNet-5 with {outputs} outputs, not the 10 digits "
                       f"(finetune's lenet5_transfer5-9.npz has 5: digits 5-9 as classes 0-4); "
                       f"predict needs the weights of `minigrad train lenet5`")
    model = make_model()
    try:
        model.load_state_dict(state)
    except (KeyError, ValueError, RuntimeError) as error:
        detail = " ".join(line.strip() for line in str(error).splitlines()[1:]) or str(error)
        raise CLIError(f"--weights {weights} does not hold LeNet-5 weights: {detail}") from None
    return model


def predict(weights, image_path):
    """(digit, probabilities, whether the picture holds a digit at all) for one picture."""
    image, has_digit = load_image(image_path)
    model = load_weights(weights)
    model.eval()
    with mg.no_grad():
        logits = model(mg.tensor(image)).numpy()[0].astype(np.float64)
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    return int(probs.argmax()), probs, has_digit
