"""Neural style transfer on the engine (course module 4).

    costs.py   the course's costs: content, Gram matrix, layer and total style cost, total cost
"""

from apps.style.costs import content_cost, gram_matrix, layer_style_cost, style_cost, total_cost  # noqa: F401
