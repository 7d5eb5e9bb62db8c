"""Style transfer as an optimisation over the image G (Gatys et al.): minimise J(G) = alpha J_content + beta J_style.

Nothing is trained: the network's weights are fixed and the pixels of G are the only
parameters. The targets a[l](C) and a[l](S) are computed once; each evaluation runs G
through the network to the deepest layer needed, adds up the course's costs
(``apps.style.costs``) and back-propagates dJ/dG. L-BFGS (the paper's choice) or Adam
then updates G.

Defaults, from Gatys, Ecker and Bethge, "Image Style Transfer Using Convolutional Neural
Networks", CVPR 2016: content at conv4_2; style at conv1_1, conv2_1, conv3_1, conv4_1,
conv5_1 with equal weights w_l = 1/5; alpha/beta = 1e-3 (their Fig. 3 spans 1e-2 ... 1e-4);
L-BFGS. Their E_l = 1/(4 N_l^2 M_l^2) sum (G - A)^2 and 1/2 sum (F - P)^2 are exactly the
course's layer_style_cost and content_cost.
"""

import time
from dataclasses import asdict, dataclass

import numpy as np

import minigrad as mg
from minigrad import optim

from .costs import content_cost, gram_matrix, style_cost, total_cost

__all__ = ["Settings", "transfer", "tv_cost"]

GATYS_STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")


@dataclass
class Settings:
    """Everything that decides the result (written to the run's JSON)."""

    content_layer: str = "conv4_2"
    style_layers: tuple = GATYS_STYLE_LAYERS
    style_weights: tuple = None          # lambda[l]; None: equal, 1/L each
    alpha: float = 1.0
    beta: float = 1e3
    tv: float = 0.0                      # weight of the total-variation term (smoothness), off by default
    optimizer: str = "lbfgs"             # "lbfgs" or "adam"
    steps: int = 40                      # evaluations of J (L-BFGS) or Adam steps
    lr: float = None                     # None: 1.0 for L-BFGS, 0.02 for Adam
    init: str = "content"                # "content" or "noise"
    seed: int = 0
    frames: int = 0                      # write G every `frames` steps (0: never)

    def check(self):
        if self.optimizer not in ("lbfgs", "adam"):
            raise ValueError(f"optimizer must be 'lbfgs' or 'adam', got {self.optimizer!r}")
        if self.init not in ("content", "noise"):
            raise ValueError(f"init must be 'content' or 'noise', got {self.init!r}")
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if not self.style_layers:
            raise ValueError("style_layers must name at least one layer")
        if self.style_weights is not None and len(self.style_weights) != len(self.style_layers):
            raise ValueError(f"style_weights must have one lambda per style layer ({len(self.style_layers)}), "
                             f"got {len(self.style_weights)}")
        for name in ("alpha", "beta", "tv"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    def as_dict(self):
        out = asdict(self)
        out["style_layers"], out["lr"] = list(self.style_layers), self.learning_rate
        out["style_weights"] = list(self.style_weights) if self.style_weights is not None else None
        return out

    @property
    def learning_rate(self):
        return self.lr if self.lr is not None else (1.0 if self.optimizer == "lbfgs" else 0.02)


def tv_cost(image):
    """Total variation: the summed squared differences of neighbouring pixels (penalises high-frequency noise)."""
    dh = image[:, :, 1:, :] - image[:, :, :-1, :]
    dw = image[:, :, :, 1:] - image[:, :, :, :-1]
    return (dh ** 2).sum() + (dw ** 2).sum()


def _as_batch(image, name):
    x = np.asarray(image, dtype=np.float32)
    if x.ndim != 3 or x.shape[2] != 3:
        raise ValueError(f"{name} must be an (H, W, 3) RGB array in [0, 1], got shape {x.shape}")
    return x.transpose(2, 0, 1)[None].copy()


def transfer(content, style, features, settings=None, on_frame=None, progress=None):
    """Paint ``content`` in the style of ``style``.

    Args:
        content, style: (H, W, 3) float RGB in [0, 1], the same H and W.
        features: a :class:`apps.style.features.FeatureExtractor`.
        settings: :class:`Settings` (defaults: Gatys et al.).
        on_frame: called as ``on_frame(step, image)`` every ``settings.frames`` steps.
        progress: a tqdm-like bar (``update``, ``set_postfix``) or None.

    Returns:
        ``(image (H, W, 3) in [0, 1], history)`` where history holds, per evaluation of J,
        "J_content", "J_style", "J", "seconds" (lists of floats), and "final": the three
        costs of the image returned (before the clip to [0, 1]).
    """
    settings = settings or Settings()
    settings.check()
    c, s = _as_batch(content, "content"), _as_batch(style, "style")
    if c.shape != s.shape:
        raise ValueError(f"content and style must have the same size, got {c.shape[2:]} and {s.shape[2:]}")
    layers = list(dict.fromkeys([*settings.style_layers, settings.content_layer]))
    features.check(layers)
    with mg.no_grad():      # the targets a[l](C), a[l](S): computed once
        a_C = features(mg.tensor(c), [settings.content_layer])[settings.content_layer]
        s_acts = features(mg.tensor(s), list(settings.style_layers))
        a_S = [s_acts[name] for name in settings.style_layers]
        grams_S = [gram_matrix(a) for a in a_S]          # constant: not recomputed at each evaluation
    rng = np.random.default_rng(settings.seed)
    start = c if settings.init == "content" else rng.uniform(0.0, 1.0, c.shape).astype(np.float32)
    G = mg.tensor(start.copy(), requires_grad=True)
    history = {"J_content": [], "J_style": [], "J": [], "seconds": []}
    t0 = time.perf_counter()

    def costs():
        acts = features(G, layers)
        J_content = content_cost(a_C, acts[settings.content_layer])
        J_style = style_cost(a_S, [acts[name] for name in settings.style_layers], settings.style_weights, grams_S)
        J = total_cost(J_content, J_style, settings.alpha, settings.beta)
        if settings.tv > 0:
            J = J + tv_cost(G) * settings.tv
        return J_content, J_style, J

    def evaluate():
        J_content, J_style, J = costs()
        history["J_content"].append(float(J_content.item()))
        history["J_style"].append(float(J_style.item()))
        history["J"].append(float(J.item()))
        history["seconds"].append(time.perf_counter() - t0)
        step = len(history["J"])
        if progress is not None:
            progress.set_postfix(J_content=f"{history['J_content'][-1]:.3g}", J_style=f"{history['J_style'][-1]:.3g}",
                                 refresh=False)
            progress.update(1)
        if on_frame is not None and settings.frames and step % settings.frames == 0:
            on_frame(step, _picture(G))
        return J

    if settings.optimizer == "lbfgs":
        opt = optim.LBFGS([G], lr=settings.learning_rate, max_iter=settings.steps, max_eval=settings.steps,
                          tolerance_change=0.0, line_search_fn="backtracking")

        def closure():
            opt.zero_grad()
            J = evaluate()
            J.backward()
            return J

        opt.step(closure)
    else:
        opt = optim.Adam([G], lr=settings.learning_rate)
        for _ in range(settings.steps):
            opt.zero_grad()
            evaluate().backward()
            opt.step()
            G.data = np.clip(G.data, 0.0, 1.0)        # Adam's steps keep G a picture
    with mg.no_grad():      # the costs of the G returned (a last L-BFGS step may have been undone)
        history["final"] = {name: float(value.item()) for name, value in zip(("J_content", "J_style", "J"), costs())}
    return _picture(G), history


def _picture(G):
    return np.clip(G.numpy()[0].transpose(1, 2, 0), 0.0, 1.0)
