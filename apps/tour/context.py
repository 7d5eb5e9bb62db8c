"""What every section runner gets: the output folder, the budget (--quick, --train), and a way to say "cannot run"."""

import dataclasses
import os
import tempfile


class Unavailable(Exception):
    """A part of the tour that cannot run here (its application is not installed, weights are missing); the message says why and what to do."""


@dataclasses.dataclass
class Context:
    out: str                       # the folder of index.html and its PNGs
    quick: bool = False            # a smaller budget for every section: the whole tour in under a minute
    train: bool = False            # retrain every model from scratch instead of loading the shipped weights
    random_features: bool = False  # style transfer on a randomly initialised VGG when no trained weights are installed
    seed: int = 0
    debug: bool = False            # print the traceback of a part that failed
    work: str = None               # scratch folder for checkpoints and intermediate files
    shared: dict = dataclasses.field(default_factory=dict)   # results one part hands to a later one (LeNet-5)

    def __post_init__(self):
        if self.work is None:
            self.work = tempfile.mkdtemp(prefix="minigrad-tour-")

    def path(self, name):
        """Where a picture called ``name`` goes: beside index.html."""
        return os.path.join(self.out, name)

    def scratch(self, name):
        """A scratch sub-folder for one section's intermediate files (created)."""
        path = os.path.join(self.work, name)
        os.makedirs(path, exist_ok=True)
        return path

    def pick(self, quick, full):
        """The budget of a knob: ``quick`` under --quick, else ``full``."""
        return quick if self.quick else full

    def flags(self):
        """The tour's own options that change a result, to add to a reproducing command."""
        return (" --quick" if self.quick else "") + (" --train" if self.train else "")
