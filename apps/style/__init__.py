"""Neural style transfer on the engine (course module 4).

    costs.py     the course's costs: content, Gram matrix, layer and total style cost, total cost
    features.py  the networks whose activations are compared: VGG-16 (installed weights) or random filters
    transfer.py  the optimisation over the image G (L-BFGS or Adam), with the paper's defaults
    pictures.py  reading and sizing pictures, the bundled examples, the files a run writes
    cli.py       `minigrad style`
"""

from apps.style.costs import content_cost, gram_matrix, layer_style_cost, style_cost, total_cost  # noqa: F401
