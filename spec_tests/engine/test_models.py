"""Tests of the model zoo: parameter totals, shapes, torchvision key mapping, input checks, summary()."""

import functools
import time

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn

import models
from models import (BasicBlock, Bottleneck, InceptionModule, alexnet, from_torchvision, googlenet,
                    lenet5, resnet18, resnet34, resnet50, summary, vgg16)
from models.googlenet import CeilMaxPool2d

TOTALS = {
    "lenet5": 61_706,
    "alexnet": 61_100_840,
    "vgg16": 138_357_544,
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "googlenet": 6_624_904,
}

# Known torchvision state-dict entries (key: shape), from torchvision's own layouts.
TORCHVISION_KEYS = {
    "alexnet": {
        "features.0.weight": (64, 3, 11, 11), "features.3.weight": (192, 64, 5, 5),
        "features.6.weight": (384, 192, 3, 3), "features.10.bias": (256,),
        "classifier.1.weight": (4096, 9216), "classifier.4.weight": (4096, 4096),
        "classifier.6.weight": (1000, 4096), "classifier.6.bias": (1000,),
    },
    "vgg16": {
        "features.0.weight": (64, 3, 3, 3), "features.2.weight": (64, 64, 3, 3),
        "features.5.weight": (128, 64, 3, 3), "features.10.weight": (256, 128, 3, 3),
        "features.17.weight": (512, 256, 3, 3), "features.28.weight": (512, 512, 3, 3),
        "features.28.bias": (512,), "classifier.0.weight": (4096, 25088),
        "classifier.3.weight": (4096, 4096), "classifier.6.weight": (1000, 4096),
    },
    "resnet18": {
        "conv1.weight": (64, 3, 7, 7), "bn1.running_mean": (64,), "bn1.running_var": (64,),
        "layer1.0.conv1.weight": (64, 64, 3, 3), "layer1.1.bn2.bias": (64,),
        "layer2.0.conv1.weight": (128, 64, 3, 3), "layer2.0.downsample.0.weight": (128, 64, 1, 1),
        "layer2.0.downsample.1.running_var": (128,), "layer4.1.conv2.weight": (512, 512, 3, 3),
        "fc.weight": (1000, 512), "fc.bias": (1000,),
    },
    "resnet34": {
        "layer1.2.conv2.weight": (64, 64, 3, 3), "layer2.3.bn1.weight": (128,),
        "layer3.5.conv2.weight": (256, 256, 3, 3), "layer4.0.downsample.0.weight": (512, 256, 1, 1),
        "layer4.2.bn2.running_mean": (512,), "fc.weight": (1000, 512),
    },
    "resnet50": {
        "conv1.weight": (64, 3, 7, 7), "layer1.0.conv1.weight": (64, 64, 1, 1),
        "layer1.0.conv3.weight": (256, 64, 1, 1), "layer1.0.downsample.0.weight": (256, 64, 1, 1),
        "layer2.0.conv2.weight": (128, 128, 3, 3), "layer3.5.bn3.running_var": (1024,),
        "layer4.2.conv3.weight": (2048, 512, 1, 1), "fc.weight": (1000, 2048),
    },
    "googlenet": {
        "conv1.conv.weight": (64, 3, 7, 7), "conv1.bn.running_var": (64,),
        "conv2.conv.weight": (64, 64, 1, 1), "conv3.conv.weight": (192, 64, 3, 3),
        "inception3a.branch1.conv.weight": (64, 192, 1, 1),
        "inception3a.branch2.0.conv.weight": (96, 192, 1, 1),
        "inception3a.branch2.1.conv.weight": (128, 96, 3, 3),
        "inception3a.branch3.1.conv.weight": (32, 16, 3, 3),
        "inception3a.branch4.1.conv.weight": (32, 192, 1, 1),
        "inception5b.branch4.1.bn.bias": (128,), "fc.weight": (1000, 1024),
    },
}

# Number of torchvision state-dict keys: conv weights (+ bias without BN), BN x 5 (weight, bias,
# running_mean, running_var, num_batches_tracked), linear layers x 2; googlenet without aux heads.
TORCHVISION_KEY_COUNTS = {"alexnet": 16, "vgg16": 32, "resnet18": 122, "resnet34": 218,
                          "resnet50": 320, "googlenet": 344}

BUILDERS = {"lenet5": lenet5, "alexnet": alexnet, "vgg16": vgg16, "resnet18": resnet18,
            "resnet34": resnet34, "resnet50": resnet50, "googlenet": googlenet}


BUILD_SECONDS = {}


@functools.lru_cache(maxsize=None)
def built(name):
    """Each default model is built once for the whole file (vgg16 alone is 0.55 GB)."""
    start = time.perf_counter()
    model = BUILDERS[name]()
    BUILD_SECONDS[name] = time.perf_counter() - start
    return model


def n_params(model):
    return sum(int(np.prod(p.shape)) for p in model.parameters())


def zeros(*shape):
    return mg.zeros(*shape)


@pytest.mark.parametrize("name", list(TOTALS))
def test_parameter_totals_are_exact(name):
    assert n_params(built(name)) == TOTALS[name]


@pytest.mark.spec("M2.01")
def test_lenet5_is_the_course_network():
    model = lenet5()
    assert n_params(model) == 61_706
    rows = summary(model, (1, 32, 32))
    convs = [r for r in rows if r.kind == "Conv2d"]
    pools = [r for r in rows if r.kind == "AvgPool2d"]
    assert [r.output_shape for r in convs] == [(6, 28, 28), (16, 10, 10)]
    assert [r.output_shape for r in pools] == [(6, 14, 14), (16, 5, 5)]
    assert [r.params for r in rows if r.params] == [156, 2_416, 48_120, 10_164, 850]
    assert {r.kind for r in rows} >= {"Tanh", "AvgPool2d", "Linear"}
    assert rows.output_shape == (10,)


@pytest.mark.parametrize("activation,pooling,act_kind,pool_kind",
                         [("relu", "max", "ReLU", "MaxPool2d"), ("tanh", "avg", "Tanh", "AvgPool2d")])
def test_lenet5_options(activation, pooling, act_kind, pool_kind):
    model = lenet5(num_classes=7, activation=activation, pooling=pooling)
    y = model(mg.randn(3, 1, 32, 32))
    assert y.shape == (3, 7)
    kinds = {r.kind for r in summary(model, (1, 32, 32))}
    assert act_kind in kinds and pool_kind in kinds
    with pytest.raises(ValueError, match="activation"):
        lenet5(activation="gelu")
    with pytest.raises(ValueError, match="pooling"):
        lenet5(pooling="median")


def test_lenet5_rejects_28x28_naming_the_expected_size():
    with pytest.raises(ValueError, match=r"1x32x32") as err:
        lenet5()(zeros(1, 1, 28, 28))
    assert "(1, 1, 28, 28)" in str(err.value)
    with pytest.raises(ValueError, match=r"1x32x32"):
        lenet5()(zeros(1, 3, 32, 32))


@pytest.mark.parametrize("name,minimum", [("alexnet", 63), ("vgg16", 32), ("googlenet", 31)])
def test_minimum_input_size_is_accepted_and_one_less_is_rejected(name, minimum):
    model = built(name)
    model.eval()
    with mg.no_grad():
        y = model(zeros(1, 3, minimum, minimum))
    assert y.shape == (1, 1000)
    with pytest.raises(ValueError, match=f">= {minimum}") as err:
        model(zeros(1, 3, minimum - 1, minimum))
    assert name in str(err.value) and f"(1, 3, {minimum - 1}, {minimum})" in str(err.value)
    with pytest.raises(ValueError, match=f"3x{minimum}x{minimum}"):
        model(zeros(1, 1, 224, 224))


@pytest.mark.parametrize("builder", [resnet18, resnet50])
def test_resnet_small_inputs_and_wrong_channels(builder):
    model = builder(num_classes=10)
    model.eval()
    with mg.no_grad():
        assert model(zeros(2, 3, 32, 32)).shape == (2, 10)
        assert model(zeros(1, 3, 1, 1)).shape == (1, 10)  # every layer's output size stays >= 1
    with pytest.raises(ValueError, match="3x1x1"):
        model(zeros(1, 1, 32, 32))


def test_output_shapes_with_num_classes():
    x = mg.randn(2, 3, 40, 40)
    for builder in (resnet34, googlenet):
        model = builder(num_classes=5)
        model.eval()
        with mg.no_grad():
            assert model(x).shape == (2, 5)


def test_googlenet_stage_sizes_at_224_follow_ceil_mode():
    rows = summary(built("googlenet"), (3, 224, 224))
    assert rows["conv1.conv"].output_shape == (64, 112, 112)
    assert rows["maxpool1"].output_shape == (64, 56, 56)
    assert rows["maxpool2"].output_shape == (192, 28, 28)
    assert rows["maxpool3"].output_shape == (480, 14, 14)
    assert rows["maxpool4"].output_shape == (832, 7, 7)
    assert rows.output_shape == (1000,)
    assert rows.total_params == TOTALS["googlenet"]


def test_ceil_max_pool_matches_a_direct_computation():
    x = np.random.default_rng(0).standard_normal((1, 2, 7, 6)).astype(np.float32)
    y = CeilMaxPool2d(3, 2)(mg.tensor(x)).numpy()
    assert y.shape == (1, 2, 3, 3)                  # ceil((7-3)/2)+1 = 3, ceil((6-3)/2)+1 = 3
    for i in range(3):
        for j in range(3):
            window = x[:, :, 2 * i:2 * i + 3, 2 * j:2 * j + 3]   # the last window is partial
            np.testing.assert_array_equal(y[:, :, i, j], window.max(axis=(2, 3)))


@pytest.mark.parametrize("name", list(TORCHVISION_KEYS))
def test_torchvision_keys_and_shapes(name):
    state = built(name).state_dict()
    for key, shape in TORCHVISION_KEYS[name].items():
        assert key in state, key
        assert tuple(state[key].shape) == shape, key
    assert len(state) == TORCHVISION_KEY_COUNTS[name]
    counters = [k for k in state if k.endswith("num_batches_tracked")]
    assert all(state[k].shape == () for k in counters)
    assert len(counters) == sum(k.endswith("running_mean") for k in state)


def test_from_torchvision_keeps_every_key_but_the_aux_heads_and_loads():
    model = resnet18(num_classes=4)
    state = {k: v.numpy() + 1 for k, v in model.state_dict().items()}
    state["bn1.num_batches_tracked"] = np.array(5)
    tv = dict(state, **{"aux1.fc.weight": np.zeros((2, 2), np.float64)})
    converted = from_torchvision(tv)
    assert set(converted) == set(state)
    assert converted["fc.weight"].dtype == np.float32
    assert converted["bn1.num_batches_tracked"].dtype == np.int64
    fresh = resnet18(num_classes=4)
    fresh.load_state_dict(converted)
    loaded = fresh.state_dict()
    np.testing.assert_allclose(loaded["layer3.1.conv2.weight"].numpy(), state["layer3.1.conv2.weight"])
    np.testing.assert_allclose(loaded["layer2.0.downsample.1.running_var"].numpy(), 2.0)
    assert loaded["bn1.num_batches_tracked"].item() == 5


@pytest.mark.spec("M2.10")
def test_summary_multiplies_of_a_5x5_conv():
    s = summary(nn.Conv2d(192, 32, 5, padding=2), (192, 28, 28))
    assert len(s.rows) == 1
    assert s.rows[0].output_shape == (32, 28, 28)
    assert s.rows[0].multiplies == 28 * 28 * 32 * 5 * 5 * 192 == 120_422_400
    assert s.total_multiplies == 120_422_400


@pytest.mark.spec("M2.11")
def test_summary_multiplies_with_a_1x1_bottleneck():
    model = nn.Sequential(nn.Conv2d(192, 16, 1), nn.ReLU(), nn.Conv2d(16, 32, 5, padding=2), nn.ReLU())
    s = summary(model, (192, 28, 28))
    assert [r.multiplies for r in s.rows] == [2_408_448, 0, 10_035_200, 0]
    assert s.total_multiplies == 12_443_648
    assert s.output_shape == (32, 28, 28)


@pytest.mark.spec("M2.09")
def test_inception_module_course_example():
    block = InceptionModule(192, 64, 96, 128, 16, 32, 32, kernel_5x5=5, batch_norm=False)
    s = summary(block, (192, 28, 28))
    assert s.output_shape == (64 + 128 + 32 + 32, 28, 28)
    assert s["branch3.0.conv"].multiplies == 2_408_448
    assert s["branch3.1.conv"].multiplies == 10_035_200
    assert s["branch3.1.conv"].output_shape == (32, 28, 28)
    assert s["branch4.0"].output_shape == (192, 28, 28)       # same max pool keeps n and n_c
    # naive module: no bottlenecks, the pool's channels pass straight through
    naive = InceptionModule(192, 64, None, 128, None, 32, None, batch_norm=False)
    s = summary(naive, (192, 28, 28))
    assert s.output_shape == (64 + 128 + 32 + 192, 28, 28)
    assert s["branch3.0.conv"].multiplies == 120_422_400


def test_inception_module_concatenates_the_branches_in_order():
    block = InceptionModule(4, 2, 2, 3, 2, 1, 2, batch_norm=False)
    x = mg.randn(2, 4, 6, 6)
    y = block(x)
    assert y.shape == (2, 8, 6, 6)
    np.testing.assert_allclose(y.numpy()[:, :2], block.branch1(x).numpy(), rtol=1e-6)
    np.testing.assert_allclose(y.numpy()[:, 6:], block.branch4(x).numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match=r"\(N, 4, H, W\)"):
        block(mg.randn(1, 3, 6, 6))


@pytest.mark.spec("M2.05")
def test_basic_block_with_zero_last_layer_is_the_identity():
    block = BasicBlock(8, 8)
    block.eval()
    for p in (block.bn2.weight, block.bn2.bias):
        p.data[...] = 0.0
    x = mg.tensor(np.abs(np.random.default_rng(1).standard_normal((2, 8, 5, 5))).astype(np.float32))
    np.testing.assert_allclose(block(x).numpy(), x.numpy(), rtol=1e-6)


def test_residual_blocks_shapes():
    assert BasicBlock(16, 32, stride=2)(mg.randn(1, 16, 9, 9)).shape == (1, 32, 5, 5)
    assert BasicBlock(16, 16).downsample is None
    assert Bottleneck(64, 16)(mg.randn(1, 64, 8, 8)).shape == (1, 64, 8, 8)
    assert Bottleneck(64, 32, stride=2)(mg.randn(1, 64, 8, 8)).shape == (1, 128, 4, 4)


def test_summary_table_totals_and_it_leaves_the_model_as_it_was():
    model = resnet18(num_classes=10)
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    s = summary(model, (3, 32, 32))
    assert model.training                       # restored to train mode
    for k, v in model.state_dict().items():     # running statistics untouched
        np.testing.assert_array_equal(v.numpy(), before[k])
    assert s.total_params == n_params(model) == sum(r.params for r in s.rows)
    assert s["layer1.0.conv1"].multiplies == 8 * 8 * 64 * 3 * 3 * 64
    assert s["fc"].multiplies == 512 * 10
    assert s.total_multiplies == sum(r.multiplies for r in s.rows)
    relu_calls = [r for r in s.rows if r.name == "layer1.0.relu"]
    assert len(relu_calls) == 2                 # a leaf called twice gives two rows
    lines = str(s).splitlines()
    table = [ln for ln in lines if ln.startswith(("layer", "conv1", "fc"))]
    assert len({len(ln) for ln in table}) == 1  # aligned columns
    assert "Total params: 11,181,642" in str(s)
    with pytest.raises(KeyError):
        s["nope"]


def test_summary_rejects_a_wrong_input_size_with_the_models_message():
    with pytest.raises(ValueError, match="1x32x32"):
        summary(lenet5(), (1, 28, 28))


def test_vgg16_builds_fast_in_float32():
    """138M float32 parameters initialised with vectorised numpy: a few seconds.

    Timed against the machine's own speed at that moment: drawing 138M float32 uniforms
    into fresh memory with numpy (about 1.3 s on an idle 2-core machine, where vgg16()
    takes about 3.5 s). An init that draws float64 and copies each array twice took
    more than 10 times the baseline there; the bound is 4 times the baseline plus 1 s.
    """
    model = built("vgg16")
    elapsed = BUILD_SECONDS["vgg16"]
    start = time.perf_counter()
    baseline = np.random.default_rng(0).random(TOTALS["vgg16"], dtype=np.float32)
    baseline_s = time.perf_counter() - start
    del baseline
    assert elapsed < 4 * baseline_s + 1.0, f"vgg16() took {elapsed:.1f} s, drawing its values {baseline_s:.1f} s"
    assert all(p.dtype == np.float32 for p in model.parameters())
    assert set(models.__all__) >= {"lenet5", "alexnet", "vgg16", "resnet18", "resnet34", "resnet50",
                                   "googlenet", "summary", "BasicBlock", "Bottleneck", "InceptionModule"}
