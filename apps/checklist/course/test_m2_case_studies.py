"""Module 2 of the course, case studies: LeNet-5, AlexNet, VGG-16, residual blocks, 1x1 convolutions, Inception, transfer learning, augmentation (M2.01-M2.14)."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minigrad as mg
import minigrad.functional as F
from minigrad import nn, optim

from apps.edges import HORIZONTAL, VERTICAL, detect_edges
from course_helpers import FEW, PROPERTY, n_params, set_values, t, walk

spec = pytest.mark.spec


# ----- M2.01 - M2.03: classic networks -------------------------------------------------------------

@spec("M2.01")
def test_lenet5_layers_and_parameters():
    from models import lenet5, summary

    net = lenet5()
    assert n_params(net) == 61_706, f"LeNet-5 has about 60k parameters: 61,706 with biases; it owns {n_params(net):,}"
    table = summary(net, (1, 32, 32))
    flow = [r.kind for r in table if r.kind in ("Conv2d", "Linear") or "Pool" in r.kind]
    assert [k if "Pool" not in k else "Pool" for k in flow] == ["Conv2d", "Pool", "Conv2d", "Pool", "Linear", "Linear", "Linear"], \
        f"LeNet-5 flows conv-pool-conv-pool-FC-FC-output; got {flow}"
    assert table.output_shape == (10,)
    assert net(mg.zeros(2, 1, 32, 32)).shape == (2, 10), "LeNet-5 takes a grayscale 32x32x1 image"


@spec("M2.02")
def test_alexnet_about_60_million_parameters_with_relu():
    from models import alexnet

    net = alexnet()
    count = n_params(net)
    assert 55e6 <= count <= 65e6, f"AlexNet has about 60 million parameters, it owns {count:,}"
    assert any(isinstance(m, nn.ReLU) for m in walk(net)), "AlexNet uses ReLU"
    convs = [m for m in walk(net) if isinstance(m, nn.Conv2d)]
    assert len(convs) == 5, f"AlexNet has 5 conv layers, found {len(convs)}"


@spec("M2.03")
def test_vgg16_parameters_and_layer_rules():
    from models import vgg16

    net = vgg16()
    assert n_params(net) == 138_357_544, f"VGG-16 has 138,357,544 parameters, it owns {n_params(net):,}"
    modules = walk(net)
    convs = [m for m in modules if isinstance(m, nn.Conv2d)]
    pools = [m for m in modules if isinstance(m, nn.MaxPool2d)]
    linears = [m for m in modules if isinstance(m, nn.Linear)]
    assert (len(convs), len(linears)) == (13, 3), "VGG-16: 13 conv layers + 3 fully connected = 16"
    assert len(pools) == 5
    for conv in convs:
        c_out, c_in, f_h, f_w = conv.weight.shape
        assert (f_h, f_w) == (3, 3), f"every VGG-16 conv is 3x3, found {f_h}x{f_w}"
        with mg.no_grad():
            out = conv(mg.zeros(1, c_in, 5, 7))
        assert out.shape == (1, c_out, 5, 7), f"a 3x3 stride-1 'same' conv keeps n_H x n_W (5x7), got {out.shape[2:]}"
    for pool in pools:
        assert pool(mg.zeros(1, 2, 8, 6)).shape == (1, 2, 4, 3), "every VGG-16 max pool is 2x2 with stride 2"


# ----- M2.04 - M2.06: residual blocks ----------------------------------------------------------------

@spec("M2.04")
@FEW
@given(c=st.integers(1, 4), n=st.integers(2, 6), seed=st.integers(0, 99))
def test_residual_block_adds_the_skip_before_the_last_relu(c, n, seed):
    """a[l+2] = g(z[l+2] + a[l]), with z[l+2] what the block's main path computes."""
    from models import BasicBlock

    rng = np.random.default_rng(seed)
    block = BasicBlock(c, c)
    block.eval()
    a = mg.tensor(rng.standard_normal((1, c, n, n)).astype(np.float32))
    with mg.no_grad():
        z = block.bn2(block.conv2(block.relu(block.bn1(block.conv1(a))))).numpy()
        got = block(a).numpy()
    np.testing.assert_allclose(got, np.maximum(z + a.numpy(), 0), atol=1e-5,
                               err_msg="a[l+2] must be g(z[l+2] + a[l])")
    assert not np.allclose(got, np.maximum(z, 0), atol=1e-3), "without the skip connection a[l+2] would be g(z[l+2])"


@spec("M2.04")
def test_residual_block_with_projection_shortcut():
    """When the block changes shape, a[l] goes through the projection shortcut W_s before the addition."""
    from models import BasicBlock

    block = BasicBlock(2, 4, stride=2)
    block.eval()
    a = mg.tensor(np.random.default_rng(3).standard_normal((1, 2, 6, 6)).astype(np.float32))
    with mg.no_grad():
        z = block.bn2(block.conv2(block.relu(block.bn1(block.conv1(a))))).numpy()
        skip = block.downsample(a).numpy()
        got = block(a).numpy()
    assert got.shape == (1, 4, 3, 3)
    np.testing.assert_allclose(got, np.maximum(z + skip, 0), atol=1e-5, err_msg="a[l+2] = g(z[l+2] + W_s a[l])")


@spec("M2.05")
@FEW
@given(c=st.integers(1, 4), n=st.integers(2, 6), seed=st.integers(0, 99))
def test_zeroed_residual_block_is_the_identity(c, n, seed):
    """With W[l+2] = 0 and b[l+2] = 0, a[l+2] = g(a[l]) = a[l] for ReLU inputs a[l] >= 0."""
    from models import BasicBlock

    rng = np.random.default_rng(seed)
    block = BasicBlock(c, c)
    block.eval()
    set_values(block.conv2.weight, 0.0)     # W[l+2] = 0
    set_values(block.bn2.bias, 0.0)         # b[l+2] = 0 (the block's bias lives in its batch norm)
    a = np.abs(rng.standard_normal((2, c, n, n))).astype(np.float32)   # a[l] is a ReLU output
    with mg.no_grad():
        got = block(mg.tensor(a)).numpy()
    np.testing.assert_allclose(got, a, atol=1e-6, err_msg="W[l+2] = 0, b[l+2] = 0: a[l+2] = g(a[l]) = a[l]")


class _Plain(nn.Module):
    def __init__(self, width, depth):
        super().__init__()
        self.inp = nn.Linear(2, width)
        self.layers = nn.Sequential(*[nn.Linear(width, width) for _ in range(2 * depth)])
        self.out = nn.Linear(width, 1)

    def forward(self, x):
        a = self.inp(x).relu()
        for layer in self.layers:
            a = layer(a).relu()
        return self.out(a)


class _Residual(_Plain):
    def forward(self, x):
        a = self.inp(x).relu()
        layers = list(self.layers)
        for first, second in zip(layers[0::2], layers[1::2]):
            a = (second(first(a).relu()) + a).relu()    # a[l+2] = g(z[l+2] + a[l])
        return self.out(a)


def _training_error(cls, depth, x, y, steps=100):
    mg.manual_seed(0)
    net = cls(16, depth)
    opt = optim.Adam(net.parameters(), lr=0.01)
    for _ in range(steps):
        opt.zero_grad()
        loss = F.mse_loss(net(x), y)
        loss.backward()
        opt.step()
    with mg.no_grad():
        return float(F.mse_loss(net(x), y).item())


@spec("M2.06")
@pytest.mark.experiment
def test_training_error_against_depth_plain_vs_residual():
    """A deep plain network trains worse than a shallow one; the same depth with skip connections does not.

    Same data, same widths, same initialisation seed, same optimiser and number of
    steps; only the depth and the skip connections change.
    """
    rng = np.random.default_rng(0)
    xs = rng.uniform(-1, 1, (64, 2)).astype(np.float32)
    ys = (np.sin(3 * xs[:, :1]) * np.cos(2 * xs[:, 1:])).astype(np.float32)
    x, y = mg.tensor(xs), mg.tensor(ys)
    plain = {d: _training_error(_Plain, d, x, y) for d in (1, 8)}          # 2 + 2d + 1 layers: 5 and 19
    residual = {d: _training_error(_Residual, d, x, y) for d in (1, 8)}
    report = "training error by number of blocks: plain " + str({d: round(e, 4) for d, e in plain.items()}) + \
        ", residual " + str({d: round(e, 4) for d, e in residual.items()})
    assert plain[8] > 3 * plain[1], "a deeper plain network should train worse: " + report
    assert residual[8] < 2 * residual[1], "a deeper residual network should not train worse: " + report
    assert residual[8] < 0.2 * plain[8], "at the same depth, the residual network should train much better: " + report


# ----- M2.07 - M2.08: 1x1 convolutions -------------------------------------------------------------------

@spec("M2.07")
def test_one_by_one_convolution_28x28x192_to_32():
    out = nn.Conv2d(192, 32, 1)(mg.zeros(1, 192, 28, 28)).shape
    assert out == (1, 32, 28, 28), f"28x28x192 with 32 1x1 filters -> 28x28x32, got {out}"


@spec("M2.07")
@PROPERTY
@given(n_h=st.integers(1, 6), n_w=st.integers(1, 6), n_c=st.integers(1, 6), n_c_out=st.integers(1, 6),
       seed=st.integers(0, 99))
def test_one_by_one_convolution_acts_on_each_position_alone(n_h, n_w, n_c, n_c_out, seed):
    """A 1x1 convolution is a fully connected layer applied at each position: z[:, i, j] = W a[:, i, j] + b."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((2, n_c, n_h, n_w))
    w = rng.standard_normal((n_c_out, n_c, 1, 1))
    b = rng.standard_normal(n_c_out)
    out = F.conv2d(t(a), t(w), t(b)).numpy()
    expected = np.einsum("kc,ncij->nkij", w[:, :, 0, 0], a) + b[None, :, None, None]
    np.testing.assert_allclose(out, expected, atol=1e-10,
                               err_msg="1x1 conv: each output position must depend on the same position's n_c values only")


@spec("M2.08")
@PROPERTY
@given(n=st.integers(2, 10), n_c=st.integers(1, 8), n_c_out=st.integers(1, 8))
def test_pooling_shrinks_height_and_width_one_by_one_shrinks_channels(n, n_c, n_c_out):
    x = mg.zeros(1, n_c, n, n)
    pooled = nn.MaxPool2d(2)(x).shape
    assert pooled == (1, n_c, n // 2, n // 2), f"pooling shrinks n_H, n_W and keeps n_C: {n}x{n}x{n_c} -> {pooled}"
    squeezed = nn.Conv2d(n_c, n_c_out, 1)(x).shape
    assert squeezed == (1, n_c_out, n, n), f"a 1x1 conv keeps n_H, n_W and sets n_C: {n}x{n}x{n_c} -> {squeezed}"


# ----- M2.09 - M2.11: Inception and multiplies ---------------------------------------------------------------

@spec("M2.09")
def test_inception_module_28x28x192():
    from models import InceptionModule

    module = InceptionModule(192, 64, 96, 128, 16, 32, 32)
    module.eval()
    kernels = sorted({m.weight.shape[-1] for m in walk(module) if isinstance(m, nn.Conv2d)})
    assert kernels == [1, 3, 5], f"Inception has 1x1, 3x3 and 5x5 convolutions, found {kernels}"
    assert any(isinstance(m, nn.MaxPool2d) for m in walk(module)), "Inception has a max-pool branch"
    with mg.no_grad():
        out = module(mg.zeros(1, 192, 28, 28))
    assert out.shape == (1, 256, 28, 28), f"28x28x192 -> 28x28x(64 + 128 + 32 + 32) = 28x28x256, got {out.shape}"


@spec("M2.09")
@FEW
@given(n_c=st.integers(1, 4), widths=st.tuples(*[st.integers(1, 4)] * 6), n=st.integers(1, 6), seed=st.integers(0, 99))
def test_inception_concatenates_same_padded_branches_along_channels(n_c, widths, n, seed):
    from models import InceptionModule

    c1, r3, c3, r5, c5, pp = widths
    module = InceptionModule(n_c, c1, r3, c3, r5, c5, pp)
    module.eval()
    x = mg.tensor(np.random.default_rng(seed).standard_normal((1, n_c, n, n)).astype(np.float32))
    with mg.no_grad():
        out = module(x).numpy()
        branches = [b(x).numpy() for b in (module.branch1, module.branch2, module.branch3, module.branch4)]
    assert out.shape == (1, c1 + c3 + c5 + pp, n, n), "same padding keeps n_H x n_W; channels add up"
    np.testing.assert_allclose(out, np.concatenate(branches, axis=1), atol=1e-6,
                               err_msg="the output is the branches stacked along channels, in order")


@spec("M2.10")
def test_multiplies_of_a_5x5_convolution():
    from models import summary

    table = summary(nn.Sequential(nn.Conv2d(192, 32, 5, padding=2)), (192, 28, 28))
    assert table.output_shape == (32, 28, 28)
    assert table.total_multiplies == 120_422_400, \
        f"28*28*32*5*5*192 = 120,422,400 multiplies, summary counts {table.total_multiplies:,}"


@spec("M2.10")
@PROPERTY
@given(n=st.integers(3, 9), f=st.integers(1, 3), s=st.integers(1, 2), n_c=st.integers(1, 5), n_c_out=st.integers(1, 5))
def test_multiplies_are_outputs_times_window(n, f, s, n_c, n_c_out):
    from models import summary

    table = summary(nn.Sequential(nn.Conv2d(n_c, n_c_out, f, stride=s)), (n_c, n, n))
    c, h, w = table.output_shape
    assert table.total_multiplies == h * w * c * f * f * n_c, \
        f"multiplies = n_H' * n_W' * n_C' * f * f * n_C = {h}*{w}*{c}*{f}*{f}*{n_c}, summary counts {table.total_multiplies}"


@spec("M2.11")
def test_multiplies_with_a_1x1_bottleneck():
    from models import summary

    table = summary(nn.Sequential(nn.Conv2d(192, 16, 1), nn.Conv2d(16, 32, 5, padding=2)), (192, 28, 28))
    per_layer = [r.multiplies for r in table if r.kind == "Conv2d"]
    assert per_layer == [2_408_448, 10_035_200], f"28*28*16*192 = 2,408,448 and 28*28*32*5*5*16 = 10,035,200; got {per_layer}"
    assert table.total_multiplies == 12_443_648, f"together 12,443,648 (about 12.4 million), got {table.total_multiplies:,}"
    assert table.output_shape == (32, 28, 28)


# ----- M2.12 - M2.14: practical advice ----------------------------------------------------------------------

@spec("M2.12")
def test_transfer_learning_freezes_the_body_and_trains_the_head():
    mg.manual_seed(0)
    rng = np.random.default_rng(0)
    body = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten())
    body_head = nn.Linear(4 * 6 * 6, 10)            # the pretrained network's own head (10 classes)
    assert nn.Sequential(body, body_head)(mg.zeros(1, 1, 8, 8)).shape == (1, 10)
    for p in body.parameters():
        p.requires_grad = False                     # freeze
    head = nn.Linear(4 * 6 * 6, 2)                  # replace the head for the new 2-class task
    model = nn.Sequential(body, head)
    before = [p.numpy().copy() for p in body.parameters()]
    head_before = head.weight.numpy().copy()
    x = mg.tensor(rng.standard_normal((16, 1, 8, 8)).astype(np.float32))
    y = mg.tensor(rng.integers(0, 2, 16))
    opt = optim.SGD(head.parameters(), lr=0.1)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    for p, old in zip(body.parameters(), before):
        assert p.grad is None, "a frozen parameter gets no gradient"
        np.testing.assert_array_equal(p.numpy(), old, err_msg="frozen weights must not change")
    assert not np.array_equal(head.weight.numpy(), head_before), "the new head must train"
    assert losses[-1] < losses[0], f"training the head lowers the loss: {losses[0]:.3f} -> {losses[-1]:.3f}"


@spec("M2.13")
@PROPERTY
@given(n=st.integers(4, 9), col=st.integers(1, 7), seed=st.integers(0, 99))
def test_mirroring_keeps_the_label(n, col, seed):
    """Mirror an image with a vertical edge: it still has a vertical edge (and no horizontal one)."""
    from minigrad.transforms import RandomMirror

    assume(col < n - 1)
    image = np.zeros((1, 1, n, n))
    image[..., :col + 1] = 10.0
    mirrored = RandomMirror(p=1.0, seed=seed)(image)
    np.testing.assert_array_equal(mirrored, image[..., ::-1], err_msg="mirroring reverses the width axis")
    for x in (image, mirrored):
        assert np.abs(detect_edges(x, VERTICAL).numpy()).max() == 30, "the vertical edge is still there"
        assert np.abs(detect_edges(x, HORIZONTAL).numpy()).max() == 0


@spec("M2.14")
def test_crop_rotate_shear_colour_shift_keep_shape_and_range():
    from minigrad.transforms import ColorShift, RandomCrop, RandomRotation, RandomShear

    batch = np.random.default_rng(0).uniform(0, 1, (4, 3, 12, 12)).astype(np.float32)
    for transform in (RandomCrop(12, padding=2, seed=0), RandomRotation(20, seed=0), RandomShear(0.2, seed=0),
                      ColorShift(0.1, seed=0)):
        out = transform(batch)
        assert out.shape == batch.shape and out.dtype == batch.dtype, f"{transform!r} keeps shape and dtype"
        assert out.min() >= 0 and out.max() <= 1, f"{transform!r} keeps pixel values in [0, 1]"
