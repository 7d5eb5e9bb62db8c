"""Read VGG conv weights from an ONNX file: the Conv nodes in graph order, their weights from the initializers.

ONNX already stores a Conv's weight as (C_out, C_in, f, f), PyTorch's layout, so nothing is
transposed. Each Conv must be a plain VGG one (3x3, stride 1, padding 1, one group, no
dilation): anything else means the file is not the network it claims to be.
"""

import numpy as np

from .layout import CONVS_PER_BLOCK, features_state_dict


def _attributes(node):
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _check_plain_conv(node, weight):
    attrs = _attributes(node)
    f = weight.shape[2:]
    problems = []
    if tuple(attrs.get("strides", (1, 1))) != (1, 1):
        problems.append(f"strides {attrs['strides']}")
    if tuple(attrs.get("dilations", (1, 1))) != (1, 1):
        problems.append(f"dilations {attrs['dilations']}")
    if attrs.get("group", 1) != 1:
        problems.append(f"group {attrs['group']}")
    auto_pad = attrs.get("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    if auto_pad in ("NOTSET", "") and tuple(attrs.get("pads", (0, 0, 0, 0))) != (1, 1, 1, 1):
        problems.append(f"pads {attrs.get('pads', [0, 0, 0, 0])}")
    elif auto_pad not in ("NOTSET", "", "SAME_UPPER", "SAME_LOWER"):
        problems.append(f"auto_pad {auto_pad}")
    if tuple(f) != (3, 3):
        problems.append(f"kernel {tuple(f)}")
    if problems:
        raise ValueError(f"Conv node {node.name or node.output[0]!r} is not a VGG conv (3x3, stride 1, pad 1): "
                         + ", ".join(problems))


def onnx_state_dict(path, arch=None):
    """Torchvision ``features.*`` arrays from an ONNX VGG-16/19; ``arch`` None guesses it from the conv count.

    Returns (state_dict, arch).
    """
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise ImportError('reading ONNX files needs the onnx package: pip install "minigrad[weights]"') from None
    try:
        model = onnx.load(str(path))
    except Exception as error:   # protobuf's DecodeError and friends: the bytes are not an ONNX model
        raise ValueError(f"{path} is not a readable ONNX model: {error}") from None
    graph = model.graph
    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:               # some exporters keep weights in Constant nodes instead
        if node.op_type == "Constant" and "value" in (a.name for a in node.attribute):
            constants[node.output[0]] = numpy_helper.to_array(_attributes(node)["value"])
    unsupported = sorted({n.op_type for n in graph.node if n.op_type in ("BatchNormalization", "ConvTranspose")})
    if unsupported:
        raise ValueError(f"{path} has {', '.join(unsupported)} nodes: only plain VGG (no batch norm) is supported")
    pairs = []
    for node in graph.node:
        if node.op_type != "Conv":
            continue
        if node.input[1] not in constants:
            raise ValueError(f"Conv node {node.name or node.output[0]!r} takes its weight {node.input[1]!r} "
                             "from a computed value, not an initializer")
        weight = np.asarray(constants[node.input[1]], dtype=np.float32)
        _check_plain_conv(node, weight)
        has_bias = len(node.input) > 2 and node.input[2]
        bias = constants[node.input[2]] if has_bias else np.zeros(weight.shape[0], np.float32)
        pairs.append((weight, bias))
    counts = {sum(convs): arch for arch, convs in CONVS_PER_BLOCK.items()}
    if arch is None:
        if len(pairs) not in counts:
            raise ValueError(f"{path} has {len(pairs)} Conv nodes; VGG-16 has 13 and VGG-19 16")
        arch = counts[len(pairs)]
    return features_state_dict(pairs, arch, source=str(path)), arch
