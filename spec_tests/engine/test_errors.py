"""Bad input gets a clear exception before any kernel runs, naming the argument and the shapes involved."""

import re

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad import nn, optim
from minigrad.backend import get_backend

KERNELS = ("conv2d_forward", "conv2d_backward", "max_pool2d_forward", "avg_pool2d_forward", "matmul")


@pytest.fixture
def no_kernel(monkeypatch):
    """Every conv/pool/matmul kernel of the CPU backend fails the test if it is reached."""
    calls = []
    cpu = get_backend("cpu")

    def tripwire(name):
        def kernel(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"the {name} kernel ran before the argument check")
        return kernel

    for name in KERNELS:
        monkeypatch.setattr(cpu, name, tripwire(name))
    yield calls
    assert calls == []


def raises(exc, *fragments):
    """pytest.raises that also demands every fragment appear in the message."""
    return pytest.raises(exc, match="(?s)" + "".join(f"(?=.*{re.escape(f)})" for f in fragments))


X = (2, 3, 5, 5)


def x(shape=X, dtype=mg.float32):
    return mg.zeros(*shape, dtype=dtype)


# ----- conv2d ------------------------------------------------------------------------
def test_conv2d_channels_that_do_not_match(no_kernel):
    with raises(ValueError, "conv2d", "channels", "(2, 3, 5, 5)", "(4, 2, 3, 3)"):
        F.conv2d(x(), x((4, 2, 3, 3)))


def test_conv_layer_channels_that_do_not_match(no_kernel):
    with raises(ValueError, "channels", "(2, 3, 5, 5)", "(4, 2, 3, 3)"):
        nn.Conv2d(2, 4, 3)(x())


@pytest.mark.parametrize("kernel, padding", [(7, 0), (8, 1), ((3, 6), 0)])
def test_conv2d_kernel_larger_than_the_padded_input(no_kernel, kernel, padding):
    k = (kernel, kernel) if isinstance(kernel, int) else kernel
    with raises(ValueError, "conv2d", "kernel", "larger", "(2, 3, 5, 5)", str((4, 3) + k)):
        F.conv2d(x(), x((4, 3) + k), padding=padding)


@pytest.mark.parametrize("stride", [0, -1, (1, 0), (-2, 1)])
def test_conv2d_non_positive_stride(no_kernel, stride):
    with raises(ValueError, "conv2d", "stride"):
        F.conv2d(x(), x((4, 3, 3, 3)), stride=stride)


def test_conv2d_same_padding_with_stride_above_one(no_kernel):
    with raises(ValueError, "conv2d", "same", "stride"):
        F.conv2d(x(), x((4, 3, 3, 3)), stride=2, padding="same")


@pytest.mark.parametrize("padding", [-1, (0, -2), "full", 1.5])
def test_conv2d_bad_padding(no_kernel, padding):
    with pytest.raises((ValueError, TypeError), match="conv2d: padding"):
        F.conv2d(x(), x((4, 3, 3, 3)), padding=padding)


def test_conv2d_int_input(no_kernel):
    with raises(TypeError, "conv2d", "input", "int64", "(2, 3, 5, 5)"):
        F.conv2d(mg.tensor(np.zeros(X, np.int64)), x((4, 3, 3, 3)))


def test_conv2d_float32_input_with_float64_weight(no_kernel):
    with raises(TypeError, "conv2d", "input", "float32", "weight", "float64"):
        F.conv2d(x(), x((4, 3, 3, 3), mg.float64))


def test_conv2d_bias_of_the_wrong_shape_or_dtype(no_kernel):
    with raises(ValueError, "conv2d", "bias", "(4,)", "(3,)"):
        F.conv2d(x(), x((4, 3, 3, 3)), mg.zeros(3))
    with raises(TypeError, "conv2d", "bias", "float64"):
        F.conv2d(x(), x((4, 3, 3, 3)), mg.zeros(4, dtype=mg.float64))


def test_conv2d_input_of_the_wrong_rank(no_kernel):
    with raises(ValueError, "conv2d", "input", "(5, 5)"):
        F.conv2d(x((5, 5)), x((4, 3, 3, 3)))
    with raises(ValueError, "conv2d", "weight", "(3, 3)"):
        F.conv2d(x(), x((3, 3)))


# ----- pooling -----------------------------------------------------------------------
POOLS = [F.max_pool2d, F.avg_pool2d]


@pytest.mark.parametrize("pool", POOLS)
@pytest.mark.parametrize("padding", [2, (0, 2), -1])
def test_pool_padding_above_half_the_kernel_or_negative(no_kernel, pool, padding):
    with raises(ValueError, pool.__name__, "padding", "(2, 2)"):
        pool(x(), 2, padding=padding)


@pytest.mark.parametrize("pool", POOLS)
@pytest.mark.parametrize("stride", [0, -1, (2, 0)])
def test_pool_non_positive_stride(no_kernel, pool, stride):
    with raises(ValueError, pool.__name__, "stride"):
        pool(x(), 2, stride=stride)


@pytest.mark.parametrize("pool", POOLS)
def test_pool_window_larger_than_the_padded_input(no_kernel, pool):
    with raises(ValueError, pool.__name__, "larger", "(2, 3, 5, 5)"):
        pool(x(), 6)
    with raises(ValueError, pool.__name__, "kernel_size"):
        pool(x(), 0)


@pytest.mark.parametrize("pool", POOLS)
def test_pool_int_input(no_kernel, pool):
    with raises(TypeError, pool.__name__, "int64", "(1, 1, 4, 4)"):
        pool(mg.tensor(np.zeros((1, 1, 4, 4), np.int64)), 2)


@pytest.mark.parametrize("pool", POOLS)
def test_pool_input_of_the_wrong_rank(no_kernel, pool):
    with raises(ValueError, pool.__name__, "(4, 4)"):
        pool(x((4, 4)), 2)


def test_adaptive_pool_non_positive_output(no_kernel):
    with raises(ValueError, "adaptive_avg_pool2d", "output_size"):
        F.adaptive_avg_pool2d(x(), 0)


# ----- other shape mismatches ------------------------------------------------------
def test_linear_in_features_that_do_not_match(no_kernel):
    with raises(ValueError, "linear", "(2, 4)", "(5, 3)"):
        F.linear(x((2, 4)), x((5, 3)))


def test_matmul_inner_dimensions_that_do_not_match(no_kernel):
    with raises(ValueError, "matmul", "(2, 4)", "(3, 2)"):
        x((2, 4)) @ x((3, 2))


def test_shapes_that_do_not_broadcast():
    with raises(ValueError, "(2, 4)", "(3, 2)"):
        x((2, 4)) + x((3, 2))


def test_cross_entropy_targets():
    with raises(ValueError, "cross_entropy", "target", "(2,)", "(3, 4)"):
        F.cross_entropy(x((3, 4)), mg.tensor([0, 1]))
    with raises(IndexError, "cross_entropy", "4"):
        F.cross_entropy(x((3, 4)), mg.tensor([0, 1, 4]))


def test_loss_shapes_that_do_not_match():
    with raises(ValueError, "mse_loss", "(3, 4)", "(3,)"):
        F.mse_loss(x((3, 4)), x((3,)))
    with raises(ValueError, "binary_cross_entropy", "(3, 4)", "(4,)"):
        F.binary_cross_entropy(x((3, 4)), x((4,)))


def test_batch_norm_statistics_of_the_wrong_shape():
    with raises(ValueError, "batch_norm", "running_mean", "(3,)", "(4,)"):
        F.batch_norm(x(), mg.zeros(4), mg.ones(3), training=False)


def test_reshape_to_the_wrong_number_of_elements():
    with raises(RuntimeError, "reshape", "(4, 2)", "(2, 3)"):
        x((2, 3)).reshape(4, 2)


def test_cat_shapes_that_do_not_match():
    with raises(ValueError, "cat", "(3, 2)", "(2, 3)"):
        mg.cat([x((2, 3)), x((3, 2))], 0)


# ----- devices -------------------------------------------------------------------------
def _on_cuda_without_a_gpu(t):
    """A tensor that says it lives on cuda: Function.apply's device check runs before the backend is asked."""
    t.device = "cuda"
    return t


def test_mixing_devices_in_an_op(no_kernel):
    a, b = x((3,)), _on_cuda_without_a_gpu(x((3,)))
    with raises(RuntimeError, "add", "same device", "cpu", "cuda"):
        a + b


def test_mixing_devices_in_conv2d(no_kernel):
    weight = _on_cuda_without_a_gpu(x((4, 3, 3, 3)))
    with raises(RuntimeError, "conv2d", "same device", "cpu", "cuda"):
        F.conv2d(x(), weight)


def test_backward_gradient_on_another_device():
    a = mg.ones(3, requires_grad=True)
    with raises(RuntimeError, "backward", "cuda", "cpu"):
        (a * 2).backward(_on_cuda_without_a_gpu(mg.ones(3)))


def test_unknown_device():
    with raises(ValueError, "device", "tpu"):
        mg.tensor([1.0], device="tpu")


# ----- autograd ------------------------------------------------------------------------
def test_backward_on_a_non_scalar_without_a_gradient():
    a = mg.ones(2, 3, requires_grad=True)
    with raises(RuntimeError, "backward", "scalar", "(2, 3)"):
        (a * 2).backward()


def test_backward_with_a_gradient_of_the_wrong_shape():
    a = mg.ones(3, requires_grad=True)
    with raises(RuntimeError, "backward", "(4,)", "(3,)"):
        (a * 2).backward(mg.ones(4))


def test_backward_on_a_tensor_without_a_graph():
    with raises(RuntimeError, "backward", "requires_grad"):
        mg.ones(3).sum().backward()


def test_backward_twice_through_freed_buffers():
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    y = (a * a).exp().sum()
    y.backward()
    with raises(RuntimeError, "backward", "second time", "retain_graph"):
        y.backward()


@pytest.mark.parametrize("data", [[1, 2], [True, False], np.zeros(2, np.int32)])
def test_requires_grad_on_a_non_float_tensor(data):
    with raises(RuntimeError, "requires_grad", "floating"):
        mg.tensor(data, requires_grad=True)
    with raises(RuntimeError, "requires_grad", "floating"):
        mg.tensor(data).requires_grad_()


# ----- state dicts ----------------------------------------------------------------------
def _model():
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))


def test_load_state_dict_lists_missing_and_unexpected_keys():
    model = _model()
    state = model.state_dict()
    del state["0.weight"], state["1.running_var"]
    state["2.weight"] = mg.zeros(1)
    with raises(RuntimeError, "load_state_dict", "missing", "0.weight", "1.running_var", "unexpected", "2.weight"):
        model.load_state_dict(state)


def test_load_state_dict_lists_shape_mismatches():
    model = _model()
    state = model.state_dict()
    state["0.weight"] = mg.zeros(3, 1, 3, 3)
    state["1.bias"] = mg.zeros(5)
    with raises(RuntimeError, "load_state_dict", "0.weight", "(3, 1, 3, 3)", "(2, 1, 3, 3)", "1.bias", "(5,)", "(2,)"):
        model.load_state_dict(state)


def test_a_failed_load_state_dict_changes_nothing():
    model = _model()
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    state = {k: v * 0 + 7 for k, v in model.state_dict().items()}
    state["1.bias"] = mg.zeros(5)
    with pytest.raises(RuntimeError):
        model.load_state_dict(state)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])


def test_load_of_a_file_that_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "junk.npz"
    path.write_bytes(b"not a zip file")
    with raises(ValueError, "load", "junk.npz"):
        mg.load(path)
    with raises(FileNotFoundError, "missing.npz"):
        mg.load(tmp_path / "missing.npz")


def test_cuda_without_a_gpu_is_a_minigrad_error(monkeypatch):
    import minigrad.backend as backend

    monkeypatch.setattr(backend, "cuda_available", lambda: False)
    monkeypatch.delitem(backend._loaded, "cuda", raising=False)
    with raises(RuntimeError, "cuda", "GPU", "NUMBA_ENABLE_CUDASIM"):
        mg.tensor([1.0], device="cuda")
    with raises(RuntimeError, "cuda", "GPU"):
        mg.ones(2).to("cuda")


def test_conv2d_empty_kernel(no_kernel):
    with raises(ValueError, "conv2d", "weight", "(2, 3, 0, 3)"):
        F.conv2d(x(), x((2, 3, 0, 3)))


@pytest.mark.parametrize("kernel_size, stride", [(0, 1), (-1, 1), (3, 0)])
def test_conv_layer_non_positive_kernel_or_stride(kernel_size, stride):
    with raises(ValueError, "Conv2d", "kernel_size", "stride"):
        nn.Conv2d(3, 2, kernel_size, stride=stride)


def test_optimizer_hyper_parameters():
    params = [mg.zeros(1, requires_grad=True)]
    with raises(ValueError, "SGD", "lr"):
        optim.SGD(params, lr=-0.1)
    with raises(ValueError, "SGD", "nesterov", "momentum"):
        optim.SGD(params, lr=0.1, nesterov=True)
    with raises(ValueError, "Adam", "betas"):
        optim.Adam(params, betas=(1.0, 0.9))
