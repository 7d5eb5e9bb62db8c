"""Whole-model workloads and the scaling sweeps, each run the same way on minigrad and on PyTorch.

The model step functions are written once against the API both engines share
(``model(x)``, ``F.cross_entropy``, ``.backward()``, ``opt.step()``), so the two
columns time the same algorithm. FLOPs come from ``models.summary`` (the course's
multiply count; a backward pass is counted as two forwards' worth).
"""

from .workloads import Workload, rng_array

# The style workload: VGG-16's first three blocks up to relu3_1 (features 0..11), on one image.
STYLE_LAYERS = (1, 6, 11)  # relu1_1, relu2_1, relu3_1: style at all three, content at the last
STYLE_DEPTH, STYLE_SIZE = 12, 128
SCALE_BATCHES = (1, 2, 4, 8, 16, 32, 64)
SCALE_SIZES = (32, 56, 64, 112, 160, 224)
QUICK_BATCHES, QUICK_SIZES = (1, 4), (32, 64)
SCALE_CHANNELS, SCALE_BATCH_SIZE, SCALE_SIZE_BATCH = 64, 32, 1


_MINIGRAD_MODELS = {}


def minigrad_model(name):
    """One minigrad instance per model name for the run: the FLOP count and the timed setups share it,
    because building VGG-16 (138 M weights) takes seconds. Weights are never updated by the timed code."""
    if name not in _MINIGRAD_MODELS:
        import models

        _MINIGRAD_MODELS[name] = getattr(models, name)()
    return _MINIGRAD_MODELS[name]


def clear_models():
    _MINIGRAD_MODELS.clear()


def _engine(peer):
    """(engine module, functional module, optim module, models namespace) for minigrad or torch."""
    if peer == "minigrad":
        import minigrad as engine
        import minigrad.functional as F
        from minigrad import optim

        import models
        return engine, F, optim, models
    import torch as engine
    import torch.nn.functional as F
    from torch import optim

    from . import torch_models
    return engine, F, optim, torch_models


def _tensor(peer, array, requires_grad=False):
    engine = _engine(peer)[0]
    if peer == "minigrad":
        return engine.tensor(array, requires_grad=requires_grad)
    return engine.from_numpy(array).requires_grad_(requires_grad)


def _labels(peer, n, classes, seed=0):
    import numpy as np

    y = np.random.default_rng(seed).integers(0, classes, n).astype(np.int64)
    return _tensor(peer, y)


def _lenet_step(peer):
    def setup():
        engine, F, optim, zoo = _engine(peer)
        engine.manual_seed(0)
        model = zoo.lenet5()
        opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        x, y = _tensor(peer, rng_array((64, 1, 32, 32), 20)), _labels(peer, 64, 10)

        def step():
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return step
    return setup


def _train_fwd_bwd(peer, name, batch, size):
    def setup():
        engine, F, _, zoo = _engine(peer)
        engine.manual_seed(0)
        model = getattr(zoo, name)()
        model.train()
        x, y = _tensor(peer, rng_array((batch, 3, size, size), 21)), _labels(peer, batch, 1000)

        def step():
            model.zero_grad()
            F.cross_entropy(model(x), y).backward()
        return step
    return setup


def _inference(peer, name, batch, size):
    def setup():
        engine, _, _, zoo = _engine(peer)
        engine.manual_seed(0)
        model = minigrad_model(name) if peer == "minigrad" else getattr(zoo, name)()
        model.eval()
        x = _tensor(peer, rng_array((batch, 3, size, size), 22))

        def forward():
            with engine.no_grad():
                model(x)
        return forward
    return setup


def _style_loss(acts, style_acts, style_grams, content):
    """J = alpha J_content + beta J_style with apps.style's own costs (the code `minigrad style` runs).

    The costs are written against the tensor API both engines share, so the PyTorch column
    runs the same Python; the style Gram matrices are computed once in the setup, as
    ``apps.style.transfer`` does.
    """
    from apps.style.costs import content_cost, style_cost, total_cost

    return total_cost(content_cost(content, acts[-1]), style_cost(style_acts, acts, style_grams=style_grams))


def _style_step(peer, size):
    """One Adam step on the image's pixels; the network's weights are frozen (gradient w.r.t. the input only)."""
    def setup():
        engine, _, optim, zoo = _engine(peer)
        engine.manual_seed(0)
        vgg = minigrad_model("vgg16") if peer == "minigrad" else None
        layers = list(vgg.features)[:STYLE_DEPTH] if vgg is not None else list(zoo.vgg16_features())[:STYLE_DEPTH]
        for layer in layers:
            layer.requires_grad_(False)

        def activations(x):
            acts = []
            for i, layer in enumerate(layers):
                x = layer(x)
                if i in STYLE_LAYERS:
                    acts.append(x)
            return acts

        with engine.no_grad():
            from apps.style.costs import gram_matrix

            style = activations(_tensor(peer, rng_array((1, 3, size, size), 23)))
            grams = [gram_matrix(a) for a in style]
            content = activations(_tensor(peer, rng_array((1, 3, size, size), 24)))[-1]
        image = _tensor(peer, rng_array((1, 3, size, size), 25), requires_grad=True)
        opt = optim.Adam([image], lr=0.01)

        def step():
            opt.zero_grad()
            _style_loss(activations(image), style, grams, content).backward()
            opt.step()
        return step
    return setup


def _block_step(peer, batch, size):
    """One BasicBlock(64, 64) forward+backward in training mode, input gradient included (as inside a network)."""
    def setup():
        engine, _, _, zoo = _engine(peer)
        engine.manual_seed(0)
        block = zoo.BasicBlock(SCALE_CHANNELS, SCALE_CHANNELS)
        block.train()
        x = _tensor(peer, rng_array((batch, SCALE_CHANNELS, size, size), 26), requires_grad=True)

        def step():
            block.zero_grad()
            x.grad = None
            block(x).sum().backward()
        return step
    return setup


FACES_BATCH = 256


def _faces_encode(batch):
    """The face encoder of `minigrad faces` on a batch of 25 x 25 faces, as verify/identify/eval run it.

    minigrad only: the encoder is an application's network. Imported here, lazily, because the
    workload times exactly that code path (standardise, forward, L2 normalise); faces/s = batch / time.
    """
    def setup():
        import numpy as np

        from apps.faces.encoder import FaceEncoder, FaceNet

        encoder = FaceEncoder(FaceNet())
        x = np.random.default_rng(0).random((batch, 1, 25, 25), dtype=np.float32)

        def forward():
            encoder.encode_batch(x, batch_size=batch)
        return forward
    return setup


def _faces_flops(batch):
    def flops():
        from apps.faces.encoder import FaceNet
        from models import summary

        return 2.0 * summary(FaceNet(), (1, 25, 25)).total_multiplies * batch
    return flops


def _yolo_detect(batch):
    """The whole of detection on a batch of 96 x 96 scenes: forward, decode, score filter and per-class NMS.

    Real scenes through the shipped weights, so NMS sees a trained network's boxes;
    images/s = batch / the time per call. (apps.yolo is imported here, only when this runs.)
    """
    def setup():
        import numpy as np

        from apps.yolo.detect import Detector
        from apps.yolo.scenes import SceneSet

        detector = Detector.load()
        scenes = SceneSet("test", batch, seed=0)
        images = np.stack([scenes.scene(i)[0] for i in range(batch)])[:, None]
        return lambda: detector.predict_batch(images)
    return setup


def _yolo_flops(batch):
    """2 * the network's multiplies (``models.summary``) * batch; decoding and NMS are not counted."""
    def flops():
        from apps.yolo.detect import Detector
        from models import summary

        return 2.0 * summary(Detector.load().model, (1, 96, 96)).total_multiplies * batch
    return flops


def _summary_flops(name, input_shape, batch, factor, depth=None):
    """2 * the course's multiplies for one image (``models.summary``) * batch * factor (3 for fwd+bwd)."""
    def flops():
        import models
        from models import summary

        if name == "vgg16_features":
            from minigrad import nn
            model = nn.Sequential(*list(minigrad_model("vgg16").features)[:depth])
        elif name == "BasicBlock":
            model = models.BasicBlock(SCALE_CHANNELS, SCALE_CHANNELS)
        else:
            model = minigrad_model(name)
        return 2.0 * summary(model, input_shape).total_multiplies * batch * factor
    return flops


def model_workloads():
    both = ("minigrad", "torch")
    return [
        Workload(name="lenet5 train step b64 1x32x32", group="model", quick=True,
                 flops=_summary_flops("lenet5", (1, 32, 32), 64, 3),
                 setups={p: _lenet_step(p) for p in both}, note="forward, cross-entropy, backward, SGD step"),
        Workload(name="resnet18 fwd+bwd b8 3x64x64", group="model", min_time=0.2,
                 flops=_summary_flops("resnet18", (3, 64, 64), 8, 3),
                 setups={p: _train_fwd_bwd(p, "resnet18", 8, 64) for p in both}),
        Workload(name="vgg16 fwd b1 3x224x224", group="model", min_time=0.2,
                 flops=_summary_flops("vgg16", (3, 224, 224), 1, 1),
                 setups={p: _inference(p, "vgg16", 1, 224) for p in both}),
        Workload(name="resnet50 fwd b1 3x224x224", group="model", min_time=0.2,
                 flops=_summary_flops("resnet50", (3, 224, 224), 1, 1),
                 setups={p: _inference(p, "resnet50", 1, 224) for p in both}),
        Workload(name=f"style step vgg16[:relu3_1] 1x3x{STYLE_SIZE}x{STYLE_SIZE}", group="model",
                 min_time=1.0, flops=_summary_flops("vgg16_features", (3, STYLE_SIZE, STYLE_SIZE), 1, 3, STYLE_DEPTH),
                 setups={p: _style_step(p, STYLE_SIZE) for p in both},
                 note="apps.style's costs on both engines; each sample is one second of optimisation: gradient w.r.t. the image, Adam step"),
        Workload(name="yolo detect", group="model", min_time=0.5, setups={"minigrad": _yolo_detect(32)},
                 flops=_yolo_flops(32),
                 note="batch of 32 digit scenes 1x96x96: forward, decode, score filter, per-class NMS; "
                      "images/s = 32 / time"),
        Workload(name=f"faces encode b{FACES_BATCH} 1x25x25", group="model", quick=True, min_time=0.2,
                 flops=_faces_flops(FACES_BATCH), setups={"minigrad": _faces_encode(FACES_BATCH)},
                 note=f"the face encoder of `minigrad faces`, {FACES_BATCH} faces a call: faces/s = {FACES_BATCH} / time",
                 meta={"items_per_call": FACES_BATCH}),
    ]


def scaling_workloads():
    both, c = ("minigrad", "torch"), SCALE_CHANNELS
    out = []
    for batch in SCALE_BATCHES:
        out.append(Workload(
            name=f"BasicBlock({c}) fwd+bwd b{batch} {c}x{SCALE_BATCH_SIZE}x{SCALE_BATCH_SIZE}", group="scale-batch",
            x=batch, quick=batch in QUICK_BATCHES, min_time=0.1,
            flops=_summary_flops("BasicBlock", (c, SCALE_BATCH_SIZE, SCALE_BATCH_SIZE), batch, 3),
            setups={p: _block_step(p, batch, SCALE_BATCH_SIZE) for p in both}))
    for size in SCALE_SIZES:
        out.append(Workload(
            name=f"BasicBlock({c}) fwd+bwd b{SCALE_SIZE_BATCH} {c}x{size}x{size}", group="scale-size",
            x=size, quick=size in QUICK_SIZES, min_time=0.1,
            flops=_summary_flops("BasicBlock", (c, size, size), SCALE_SIZE_BATCH, 3),
            setups={p: _block_step(p, SCALE_SIZE_BATCH, size) for p in both}))
    return out
