"""Neural style transfer's costs: content cost, Gram (style) matrix, layer and total style cost, total cost.

Activations are minigrad Tensors in the engine's layout, for one image: (n_C, n_H, n_W),
or (1, n_C, n_H, n_W) straight from a network (NCHW). The course writes a_ijk for
the activation at height i, width j, channel k; here that is ``a[k, i, j]``. Every
function is differentiable, so ``J(G).backward()`` gives dJ/dG for the update
G := G - lr * dJ/dG.
"""


__all__ = ["content_cost", "gram_matrix", "layer_style_cost", "style_cost", "total_cost"]


def _chw(a, name):
    if a.ndim == 4:
        if a.shape[0] != 1:
            raise ValueError(f"{name} must hold one image: (1, n_C, n_H, n_W), got {tuple(a.shape)}")
        a = a.reshape(*a.shape[1:])
    if a.ndim != 3:
        raise ValueError(f"{name} must be (n_C, n_H, n_W) or (1, n_C, n_H, n_W), got {tuple(a.shape)}")
    return a


def content_cost(a_C, a_G):
    """J_content(C, G) = 1/2 * ||a[l](C) - a[l](G)||^2, summed over every activation of layer l."""
    if tuple(a_C.shape) != tuple(a_G.shape):
        raise ValueError(f"a_C and a_G must have the same shape, got {tuple(a_C.shape)} and {tuple(a_G.shape)}")
    return 0.5 * ((a_C - a_G) ** 2).sum()


def gram_matrix(a):
    """The style matrix G[l]_kk' = sum_i sum_j a_ijk a_ijk' (n_C x n_C).

    Unrolls a (n_C, n_H, n_W) to A (n_C, n_H*n_W) and returns A A^T: entry (k, k') is how
    much channels k and k' fire together across all positions. Symmetric and positive
    semi-definite. (The notes print the generated image's matrix as sum w_ijk w_ijk;
    it is the activations a, channels k and k'.)
    """
    a = _chw(a, "a")
    n_c = a.shape[0]
    A = a.reshape(n_c, -1)
    return A @ A.transpose(0, 1)


def layer_style_cost(a_S, a_G, gram_S=None):
    """J[l]_style(S, G) = 1/(2 n_H n_W n_C)^2 * sum_k sum_k' (G(S)_kk' - G(G)_kk')^2.

    ``gram_S``: G(S) when already computed. During an optimisation over G the style
    image does not change, so its Gram matrix can be computed once and passed in.
    """
    a_S, a_G = _chw(a_S, "a_S"), _chw(a_G, "a_G")
    if tuple(a_S.shape) != tuple(a_G.shape):
        raise ValueError(f"a_S and a_G must have the same shape, got {tuple(a_S.shape)} and {tuple(a_G.shape)}")
    n_c, n_h, n_w = a_S.shape
    if gram_S is None:
        gram_S = gram_matrix(a_S)
    elif tuple(gram_S.shape) != (n_c, n_c):
        raise ValueError(f"gram_S must be (n_C, n_C) = ({n_c}, {n_c}), got {tuple(gram_S.shape)}")
    diff = gram_S - gram_matrix(a_G)
    return (diff ** 2).sum() * (1.0 / (2.0 * n_h * n_w * n_c) ** 2)


def style_cost(style_activations, generated_activations, weights=None, style_grams=None):
    """J_style(S, G) = sum_l lambda[l] * J[l]_style(S, G) over the chosen layers.

    ``style_activations`` and ``generated_activations``: lists of a[l](S), a[l](G), one per
    layer; ``weights``: the lambda[l] (default: equal weights 1/L); ``style_grams``: the
    G(S) of each layer when already computed (see ``layer_style_cost``).
    """
    if len(style_activations) != len(generated_activations):
        raise ValueError(f"need one generated activation per style layer: {len(style_activations)} and "
                         f"{len(generated_activations)}")
    if not style_activations:
        raise ValueError("style_cost needs at least one layer")
    n = len(style_activations)
    weights = [1.0 / n] * n if weights is None else list(weights)
    if len(weights) != n:
        raise ValueError(f"weights must have one lambda per layer ({n}), got {len(weights)}")
    grams = [None] * n if style_grams is None else list(style_grams)
    if len(grams) != n:
        raise ValueError(f"style_grams must have one Gram matrix per layer ({n}), got {len(grams)}")
    total = None
    for lam, a_S, a_G, gram_S in zip(weights, style_activations, generated_activations, grams):
        term = layer_style_cost(a_S, a_G, gram_S) * float(lam)
        total = term if total is None else total + term
    return total


def total_cost(J_content, J_style, alpha=10.0, beta=40.0):
    """J(G) = alpha * J_content(C, G) + beta * J_style(S, G)."""
    return J_content * float(alpha) + J_style * float(beta)
