"""The whole training path learns: 6 identities, a few dozen steps of triplet loss, and every query finds its face."""

from apps.faces.encoder import FaceEncoder
from apps.faces.eval import evaluate
from apps.faces.train import TrainConfig, train


def test_triplet_training_separates_six_identities(tmp_path):
    ids = tuple(range(6))
    config = TrainConfig(epochs=3, steps=10, identities=6, views=4, lr=3e-3, train_ids=ids,
                         out=str(tmp_path), weights=str(tmp_path / "w.npz"), progress=False)
    encoder, _, result = train(config, log=lambda *a: None)
    assert result.history["train_loss"][-1] < result.history["train_loss"][0]
    metrics = evaluate(FaceEncoder.load(config.weights).encode_batch, ids=list(ids))
    assert metrics["rank1"] == 1.0
    assert metrics["auc"] > 0.99
