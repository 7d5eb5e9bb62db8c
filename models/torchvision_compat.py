"""Loading torchvision state dicts into the model zoo: the key mapping is the identity.

Every model here (alexnet, vgg16, resnet18/34/50, googlenet) builds its modules with
torchvision's attribute names and nn.Sequential indices, so each key of torchvision's
``state_dict()`` names the same tensor, with the same shape, here:

- alexnet: ``features.{0,3,6,8,10}.{weight,bias}``, ``classifier.{1,4,6}.{weight,bias}``.
- vgg16: ``features.{0,2,5,7,10,12,14,17,19,21,24,26,28}.{weight,bias}``,
  ``classifier.{0,3,6}.{weight,bias}``.
- resnet18/34/50: ``conv1.weight``, ``bn1.*``, ``layer{1-4}.{i}.conv{1,2[,3]}.weight``,
  ``layer{1-4}.{i}.bn{1,2[,3]}.*``, ``layer{k}.0.downsample.{0,1}.*``, ``fc.{weight,bias}``.
- googlenet: ``conv{1,2,3}.{conv,bn}.*``, ``inception{3a..5b}.branch{1,2,3,4}...{conv,bn}.*``,
  ``fc.{weight,bias}``; torchvision's ``aux1.*`` and ``aux2.*`` (auxiliary heads, present
  only with ``aux_logits=True``) have no counterpart and are dropped.

Batch norm: ``weight``, ``bias``, ``running_mean``, ``running_var`` and the step counter
``num_batches_tracked`` (a 0-d int64 tensor) all map one to one: minigrad's BatchNorm2d
has the same buffers, so the mapping includes ``num_batches_tracked`` and a state dict
saved from either side has exactly the other's keys (GoogLeNet's aux heads aside).
"""

import numpy as np

DROPPED_PREFIXES = ("aux1.", "aux2.")


def from_torchvision(state_dict):
    """A torchvision state dict as {key: numpy array}, ready for ``load_state_dict``.

    Converts each value (a torch tensor, or anything ``np.asarray`` takes) to a host
    numpy array (floating point as float32, the counters as int64) and drops GoogLeNet's
    ``aux1.*``/``aux2.*``; every other key is kept as it is.
    Usage: ``model = models.resnet18(); model.load_state_dict(from_torchvision(tv_sd))``.
    """
    out = {}
    for key, value in state_dict.items():
        if key.startswith(DROPPED_PREFIXES):
            continue
        if hasattr(value, "detach"):              # a torch tensor, possibly on a GPU
            value = value.detach().cpu().numpy()
        value = np.asarray(value)
        out[key] = value.astype(np.float32 if np.issubdtype(value.dtype, np.floating) else np.int64)
    return out
