"""Parameter: a tensor that a Module registers as one of its learnable weights."""

import numpy as np

from ..tensor import Tensor


class Parameter(Tensor):
    """A tensor with requires_grad=True that Module finds through attribute assignment."""

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = np.zeros((0,), dtype=np.float32)
        if isinstance(data, Tensor):
            self._setup(data.data, data.device, requires_grad)
        else:
            super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()
