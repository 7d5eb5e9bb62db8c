"""The whole training path learns: 6 identities, a few dozen steps of triplet loss, and every query finds its face."""

import numpy as np
import pytest

from apps.faces.encoder import FaceEncoder
from apps.faces.eval import evaluate
from apps.faces.train import TrainConfig, train


def test_triplet_training_separates_six_identities(tmp_path):
    ids = tuple(range(6))
    config = TrainConfig(epochs=3, steps=10, identities=6, views=4, lr=3e-3, train_ids=ids, eval_ids=ids,
                         out=str(tmp_path), weights=str(tmp_path / "w.npz"), progress=False)
    encoder, _, result = train(config, log=lambda *a: None)
    assert result.history["train_loss"][-1] < result.history["train_loss"][0]
    metrics = evaluate(FaceEncoder.load(config.weights).encode_batch, ids=list(ids))
    assert metrics["rank1"] == 1.0
    assert metrics["auc"] > 0.99


def _tiny(tmp_path, loss, epochs):
    return TrainConfig(loss=loss, epochs=epochs, steps=2, identities=4, views=2, train_ids=tuple(range(8)),
                       eval_ids=(50, 51, 52), out=str(tmp_path), weights=str(tmp_path / f"{loss}.npz"), progress=False)


@pytest.mark.parametrize("loss", ["triplet", "binary"])
def test_an_interrupted_run_resumes_bit_for_bit(tmp_path, loss):
    whole, _, result = train(_tiny(tmp_path / "a", loss, 2), log=lambda *a: None)
    assert np.isfinite(result.history["train_loss"]).all()
    stopped = []

    def stop_after_first_epoch(line):      # fit logs an epoch after its checkpoint is written: stop there
        if not stopped:
            stopped.append(line)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(_tiny(tmp_path / "b", loss, 2), log=stop_after_first_epoch)
    config = _tiny(tmp_path / "b", loss, 2)
    config.resume = True
    resumed, _, _ = train(config, log=lambda *a: None)
    for (name, a), (_, b) in zip(whole.net.state_dict().items(), resumed.net.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
