"""Small replicas of ONNX files as people download them: laid out op by op, attribute by
attribute, as the ONNX Model Zoo's files and other exporters write them (CNTK, Caffe2, MXNet,
tf2onnx / keras2onnx, old torch), at small sizes so tests stay fast.

Each builder returns a :class:`Replica`: the model and how many learned values (weights,
biases, BatchNorm statistics) it holds, which an import must keep. ``REPLICAS`` lists them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


@dataclass
class Replica:
    name: str
    model: onnx.ModelProto
    learned: int  # values that are weights, biases or statistics (not shapes, scales, bounds)


class Graph:
    """Nodes, initializers and a count of the learned values, as one exporter writes them."""

    def __init__(self, seed: int = 0, names: bool = True) -> None:
        self.names = names  # nodes named after their output (Caffe2 names none)
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.learned = 0

    def weight(self, name: str, shape, scale: float = 0.3, positive: bool = False,
               learned: bool = True) -> str:
        """Random values; ``learned`` ones count as parameters (BatchNorm statistics do not)."""
        values = self.rng.normal(size=shape) * scale
        values = np.abs(values) + 0.5 if positive else values
        self.learned += int(np.prod(shape)) if learned else 0
        return self.const(name, values.astype(np.float32))

    def const(self, name: str, values) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(values), name))
        return name

    def ints(self, name: str, values) -> str:
        return self.const(name, np.array(values, dtype=np.int64))

    def floats(self, name: str, values) -> str:
        return self.const(name, np.array(values, dtype=np.float32))

    def constant_node(self, name: str, values, learned: bool = True) -> str:
        """A ``Constant`` node holding ``values`` (as some exporters write weights)."""
        values = np.asarray(values)
        self.learned += int(values.size) if learned else 0
        self.node("Constant", [], [name], name=f"{name}_const",
                  value=numpy_helper.from_array(values, name))
        return name

    def node(self, op: str, inputs, outputs, name: str = "", **attrs) -> str:
        outputs = [outputs] if isinstance(outputs, str) else list(outputs)
        name = name or (outputs[0] if self.names else "")
        self.nodes.append(helper.make_node(op, list(inputs), outputs, name=name, **attrs))
        return outputs[0]

    def model(self, name: str, inputs, outputs, opset: int, ir_version: int | None = None,
              domains=(), producer: str = "") -> Replica:
        graph_inputs = list(inputs)
        ir_version = ir_version or _ir_version(opset)
        if ir_version < 4:  # IR 3: every initializer is also a graph input
            graph_inputs += [helper.make_tensor_value_info(
                t.name, t.data_type, list(t.dims)) for t in self.inits]
        graph = helper.make_graph(self.nodes, name, graph_inputs, list(outputs), self.inits)
        opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in domains]
        model = helper.make_model(graph, opset_imports=opsets, producer_name=producer)
        model.ir_version = ir_version
        return Replica(name, model, self.learned)


def _ir_version(opset: int) -> int:
    return {9: 4, 10: 5, 11: 6, 12: 7, 13: 7}.get(opset, 3 if opset < 9 else 8)


def tensor(name: str, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))


# ---- CNTK: the Model Zoo's mnist-8 ------------------------------------------------------------


def cntk_mnist() -> Replica:
    """mnist-8 as CNTK wrote it: a fixed batch of 1, Conv with ``auto_pad=SAME_UPPER`` and its
    bias as a separate ``Plus`` of a C×1×1 constant, MaxPool, a Reshape to ``[1, 256]`` by a
    shape initializer, and ``Times`` (MatMul by a weight itself reshaped) then ``Plus``."""
    g = Graph(1)
    x = "3_Input:0/image"  # a leading digit and odd characters
    h = x
    for i, (cin, cout, pool) in enumerate(((1, 4, 2), (4, 8, 3))):
        conv = g.node("Conv", [h, g.weight(f"Parameter{5 + 2 * i}", (cout, cin, 5, 5))],
                      f"Convolution{28 + i}_Output_0", name=f"Convolution{28 + i}",
                      auto_pad="SAME_UPPER", dilations=[1, 1], group=1, kernel_shape=[5, 5],
                      strides=[1, 1])
        plus = g.node("Add", [conv, g.weight(f"Parameter{6 + 2 * i}", (cout, 1, 1))],
                      f"Plus{30 + i}_Output_0", name=f"Plus{30 + i}")
        relu = g.node("Relu", [plus], f"ReLU{32 + i}_Output_0", name=f"ReLU{32 + i}")
        h = g.node("MaxPool", [relu], f"Pooling{66 + i}_Output_0", name=f"Pooling{66 + i}",
                   auto_pad="NOTSET", kernel_shape=[pool, pool], pads=[0, 0, 0, 0],
                   strides=[pool, pool])
    flat = g.node("Reshape", [h, g.ints("Pooling160_Output_0_reshape0_shape", [1, 32])],
                  "Pooling160_Output_0_reshape0", name="Times212_reshape0")
    w = g.node("Reshape", [g.weight("Parameter193", (8, 2, 2, 10)),
                           g.ints("Parameter193_reshape1_shape", [32, 10])],
               "Parameter193_reshape1", name="Times212_reshape1")
    times = g.node("MatMul", [flat, w], "Times212_Output_0", name="Times212")
    g.node("Add", [times, g.weight("Parameter194", (1, 10))], "Plus214_Output_0", name="Plus214")
    return g.model("CNTKGraph", [tensor(x, [1, 1, 12, 12])], [tensor("Plus214_Output_0", [1, 10])],
                   opset=8, producer="CNTK")


# ---- Caffe2 / old torch: squeezenet1.1-7, bvlc_alexnet, caffenet ------------------------------


def _conv_relu(g: Graph, x: str, name: str, cin: int, cout: int, k: int, stride: int = 1,
               pad: int = 0, group: int = 1) -> str:
    conv = g.node("Conv", [x, g.weight(f"{name}_w_0", (cout, cin // group, k, k)),
                           g.weight(f"{name}_b_0", (cout,))], f"{name}_1", kernel_shape=[k, k],
                  strides=[stride, stride], pads=[pad] * 4, group=group, dilations=[1, 1])
    return g.node("Relu", [conv], f"{name}_2")


def caffe2_squeezenet(opset: int = 7) -> Replica:
    """squeezenet1.1-7: IR 3 (initializers listed as inputs too), Fire modules (squeeze, two
    expands, Concat), Dropout with ``ratio`` and a mask output (before opset 7 also
    ``is_test``), GlobalAveragePool then Softmax of the N×C×1×1 map (opset 7's Softmax coerces
    to 2-D)."""
    g = Graph(2, names=False)
    h = _conv_relu(g, "data_0", "conv1", 3, 8, 3, stride=2)
    h = g.node("MaxPool", [h], "pool1_1", kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 0, 0])
    squeeze = _conv_relu(g, h, "fire2_squeeze1x1", 8, 4, 1)
    left = _conv_relu(g, squeeze, "fire2_expand1x1", 4, 8, 1)
    right = _conv_relu(g, squeeze, "fire2_expand3x3", 4, 8, 3, pad=1)
    h = g.node("Concat", [left, right], "fire2_concat_1", axis=1)
    legacy = {"is_test": 1} if opset < 7 else {}
    h = g.node("Dropout", [h], ["fire9_concat_1_dropout", "_fire9_concat_1_mask"], ratio=0.5,
               **legacy)
    h = _conv_relu(g, h, "conv10", 16, 10, 1)
    h = g.node("GlobalAveragePool", [h], "pool10_1")
    g.node("Softmax", [h], "softmaxout_1")
    return g.model("squeezenet", [tensor("data_0", [1, 3, 15, 15])],
                   [tensor("softmaxout_1", [1, 10, 1, 1])], opset=opset, ir_version=3,
                   producer="onnx-caffe2")


def caffe2_resnet_opset5() -> Replica:
    """A Caffe2 ResNet from before opset 6: BatchNormalization with ``is_test`` and
    ``consumed_inputs``, Gemm with ``broadcast``; older than onnxruntime runs (the import
    upgrades it with onnx's version converter)."""
    g = Graph(15, names=False)
    h = g.node("Conv", ["gpu_0/data_0", g.weight("gpu_0/conv1_w_0", (8, 3, 3, 3))], "gpu_0/conv1_1",
               kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    h = g.node("BatchNormalization", [h, g.weight("gpu_0/res_conv1_bn_s_0", (8,), positive=True),
                                      g.weight("gpu_0/res_conv1_bn_b_0", (8,)),
                                      g.weight("gpu_0/res_conv1_bn_rm_0", (8,), learned=False),
                                      g.weight("gpu_0/res_conv1_bn_riv_0", (8,), positive=True,
                                               learned=False)],
               "gpu_0/res_conv1_bn_1", epsilon=1e-5, is_test=1, consumed_inputs=[0, 0, 0, 1, 1])
    h = g.node("Relu", [h], "gpu_0/res_conv1_bn_2")
    h = g.node("GlobalAveragePool", [h], "gpu_0/pool5_1")
    h = g.node("Flatten", [h], "OC2_DUMMY_0", axis=1)
    g.node("Gemm", [h, g.weight("gpu_0/pred_w_0", (10, 8)), g.weight("gpu_0/pred_b_0", (10,))],
           "gpu_0/pred_1", broadcast=1, transB=1)
    return g.model("resnet50", [tensor("gpu_0/data_0", ["N", 3, 12, 12])],
                   [tensor("gpu_0/pred_1", ["N", 10])], opset=5, producer="onnx-caffe2")


def _lrn(g: Graph, x: str, name: str) -> str:
    return g.node("LRN", [x], name, size=5, alpha=9.999999747378752e-05, beta=0.75, bias=1.0)


def caffe2_alexnet() -> Replica:
    """bvlc_alexnet (opset 7, IR 3): Conv with ``group=2``, LRN, MaxPool without ceil_mode, a
    Reshape to ``[1, -1]`` by a shape initializer, Gemm with ``transB=1``, Dropout with a mask
    output, Softmax of the 2-D logits."""
    g = Graph(3, names=False)
    h = _lrn(g, _conv_relu(g, "data_0", "conv1", 3, 8, 3, stride=2), "norm1_1")
    h = g.node("MaxPool", [h], "pool1_1", kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 0, 0])
    h = _lrn(g, _conv_relu(g, h, "conv2", 8, 8, 3, pad=1, group=2), "norm2_1")
    h = g.node("MaxPool", [h], "pool2_1", kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0])
    h = g.node("Reshape", [h, g.ints("OC2_DUMMY_1", [1, -1])], "OC2_DUMMY_0")
    for i, (fin, fout) in enumerate(((32, 16), (16, 10))):
        h = g.node("Gemm", [h, g.weight(f"fc{6 + i}_w_0", (fout, fin)),
                            g.weight(f"fc{6 + i}_b_0", (fout,))], f"fc{6 + i}_1", transB=1)
        if i == 0:
            h = g.node("Relu", [h], "fc6_2")
            h = g.node("Dropout", [h], ["fc6_3", "_fc6_mask_1"], ratio=0.5)
    g.node("Softmax", [h], "prob_1")
    return g.model("alexnet", [tensor("data_0", [1, 3, 19, 19])], [tensor("prob_1", [1, 10])],
                   opset=7, ir_version=3, producer="onnx-caffe2")


def caffenet() -> Replica:
    """caffenet-9 / old torch: Flatten (not Reshape) before Gemm, LRN, Dropout, a symbolic batch."""
    g = Graph(4, names=False)
    h = _lrn(g, _conv_relu(g, "data_0", "conv1", 3, 6, 3, stride=2), "norm1_1")
    h = g.node("MaxPool", [h], "pool1_1", kernel_shape=[3, 3], strides=[2, 2])
    h = g.node("Flatten", [h], "flatten_1", axis=1)
    h = g.node("Gemm", [h, g.weight("fc_w_0", (10, 6 * 4 * 4)), g.weight("fc_b_0", (10,))],
               "fc_1", transB=1, alpha=1.0, beta=1.0)
    h = g.node("Dropout", [h], ["fc_2", "fc_mask"], ratio=0.5)
    g.node("Softmax", [h], "prob_1", axis=1)
    return g.model("caffenet", [tensor("data_0", ["N", 3, 19, 19])], [tensor("prob_1", ["N", 10])],
                   opset=9, producer="pytorch 0.4")


def caffe2_opset3() -> Replica:
    """A Caffe2 file from opset 3: Relu and BatchNormalization with ``consumed_inputs``, the
    Reshape target as an attribute (before opset 5), Gemm with ``broadcast``."""
    g = Graph(16, names=False)
    h = g.node("Conv", ["data_0", g.weight("conv1_w_0", (4, 1, 3, 3)), g.weight("conv1_b_0", (4,))],
               "conv1_1", kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1])
    h = g.node("Relu", [h], "conv1_2", consumed_inputs=[1])
    h = g.node("MaxPool", [h], "pool1_1", kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0])
    h = g.node("Reshape", [h], "OC2_DUMMY_0", shape=[1, 64])
    g.node("Gemm", [h, g.weight("fc_w_0", (10, 64)), g.weight("fc_b_0", (10,))], "fc_1",
           broadcast=1, transB=1)
    return g.model("caffe2_net", [tensor("data_0", [1, 1, 8, 8])], [tensor("fc_1", [1, 10])],
                   opset=3, producer="onnx-caffe2")


# ---- MXNet: resnet18-v1-7 and resnet18-v2-7 --------------------------------------------------


def _bn(g: Graph, x: str, name: str, channels: int) -> str:
    return g.node("BatchNormalization", [x, g.weight(f"{name}_gamma", (channels,), positive=True),
                                         g.weight(f"{name}_beta", (channels,)),
                                         g.weight(f"{name}_running_mean", (channels,), learned=False),
                                         g.weight(f"{name}_running_var", (channels,), positive=True,
                                                  learned=False)],
                  f"{name}_fwd", epsilon=1e-5, momentum=0.9, spatial=1)


def _mx_conv(g: Graph, x: str, name: str, cin: int, cout: int, k: int, stride: int = 1) -> str:
    return g.node("Conv", [x, g.weight(f"{name}_weight", (cout, cin, k, k))], f"{name}_fwd",
                  kernel_shape=[k, k], strides=[stride, stride], pads=[k // 2] * 4,
                  dilations=[1, 1], group=1)


def mxnet_resnet_v1() -> Replica:
    """resnet18-v1-7: Conv without bias, BatchNormalization with ``spatial=1``, residual Add
    (a strided block with a 1×1 downsample), GlobalAveragePool, Flatten, Gemm ``transB=1``."""
    g = Graph(5)
    h = g.node("Relu", [_bn(g, _mx_conv(g, "data", "resnetv15_conv0", 3, 8, 3), "resnetv15_batchnorm0", 8)],
               "resnetv15_relu0_fwd")
    h = g.node("MaxPool", [h], "resnetv15_pool0_fwd", kernel_shape=[3, 3], strides=[2, 2],
               pads=[1, 1, 1, 1])
    for stage, (cin, cout, stride) in enumerate(((8, 8, 1), (8, 16, 2))):
        p = f"resnetv15_stage{stage + 1}_"
        body = g.node("Relu", [_bn(g, _mx_conv(g, h, p + "conv0", cin, cout, 3, stride),
                                   p + "batchnorm0", cout)], p + "relu0_fwd")
        body = _bn(g, _mx_conv(g, body, p + "conv1", cout, cout, 3), p + "batchnorm1", cout)
        short = h if stride == 1 else _bn(g, _mx_conv(g, h, p + "conv2", cin, cout, 1, stride),
                                          p + "batchnorm2", cout)
        h = g.node("Relu", [g.node("Add", [short, body], p + "_plus0")], p + "activation0")
    return _mxnet_head(g, h, "resnetv15_", "resnetv15_pool1_fwd", "flatten_170")


def mxnet_resnet_v2() -> Replica:
    """resnet18-v2-7: pre-activation — a BatchNorm on the data, then BN → ReLU → Conv in every
    block (BN before the Conv), the shortcut read after the first ReLU."""
    g = Graph(6)
    h = _bn(g, "data", "resnetv22_batchnorm0", 3)
    h = _mx_conv(g, h, "resnetv22_conv0", 3, 8, 3)
    for stage, (cin, cout, stride) in enumerate(((8, 8, 1), (8, 16, 2))):
        p = f"resnetv22_stage{stage + 1}_"
        pre = g.node("Relu", [_bn(g, h, p + "batchnorm0", cin)], p + "activation0")
        body = _mx_conv(g, pre, p + "conv0", cin, cout, 3, stride)
        body = g.node("Relu", [_bn(g, body, p + "batchnorm1", cout)], p + "activation1")
        body = _mx_conv(g, body, p + "conv1", cout, cout, 3)
        short = h if stride == 1 else _mx_conv(g, pre, p + "conv2", cin, cout, 1, stride)
        h = g.node("Add", [body, short], p + "_plus0")
    h = g.node("Relu", [_bn(g, h, "resnetv22_batchnorm2", 16)], "resnetv22_relu1_fwd")
    return _mxnet_head(g, h, "resnetv22_", "resnetv22_pool1_fwd", "resnetv22_flatten0_flatten0")


def _mxnet_head(g: Graph, h: str, prefix: str, pool: str, flatten: str) -> Replica:
    """MXNet's classifier head on 16 channels (global pooling, Flatten, Gemm with transB=1 into
    10 classes) and the model around the graph, as its converter writes them."""
    h = g.node("GlobalAveragePool", [h], pool)
    h = g.node("Flatten", [h], flatten)
    g.node("Gemm", [h, g.weight(prefix + "dense0_weight", (10, 16)),
                    g.weight(prefix + "dense0_bias", (10,))], prefix + "dense0_fwd",
           alpha=1.0, beta=1.0, transA=0, transB=1)
    return g.model("mxnet_converted_model", [tensor("data", [1, 3, 16, 16])],
                   [tensor(prefix + "dense0_fwd", [1, 10])], opset=7, producer="mxnet")


# ---- the Model Zoo's fast neural style (mosaic-9, candy-9 …) ----------------------------------


def _reflect_conv(g: Graph, x: str, name: str, cin: int, cout: int, k: int, stride: int = 1) -> str:
    pad = g.node("Pad", [x], f"{name}_pad", mode="reflect", pads=[0, 0, k // 2, k // 2] * 2)
    return g.node("Conv", [pad, g.weight(f"{name}.weight", (cout, cin, k, k)),
                           g.weight(f"{name}.bias", (cout,))], f"{name}_out", kernel_shape=[k, k],
                  strides=[stride, stride], pads=[0, 0, 0, 0])


def _instance_norm(g: Graph, x: str, name: str, channels: int) -> str:
    return g.node("InstanceNormalization", [x, g.weight(f"{name}.weight", (channels,), positive=True),
                                            g.weight(f"{name}.bias", (channels,))], f"{name}_out",
                  epsilon=1e-5)


def fast_neural_style() -> Replica:
    """mosaic-9 as torch 1.0 wrote it (opset 9): reflection Pad with attributes before every
    Conv, InstanceNormalization, a residual block, Upsample by scales as an input."""
    g = Graph(17)
    h = g.node("Relu", [_instance_norm(g, _reflect_conv(g, "input1", "conv1", 3, 4, 5), "in1", 4)], "r1")
    h = g.node("Relu", [_instance_norm(g, _reflect_conv(g, h, "conv2", 4, 8, 3, 2), "in2", 8)], "r2")
    body = g.node("Relu", [_instance_norm(g, _reflect_conv(g, h, "res1.conv1", 8, 8, 3),
                                          "res1.in1", 8)], "res1_r")
    body = _instance_norm(g, _reflect_conv(g, body, "res1.conv2", 8, 8, 3), "res1.in2", 8)
    h = g.node("Add", [body, h], "res1_add")
    h = g.node("Upsample", [h, g.floats("up_scales", [1.0, 1.0, 2.0, 2.0])], "up", mode="nearest")
    h = g.node("Relu", [_instance_norm(g, _reflect_conv(g, h, "deconv1", 8, 4, 3), "in4", 4)], "r4")
    _reflect_conv(g, h, "deconv3", 4, 3, 5)
    return g.model("torch-jit-export", [tensor("input1", [1, 3, 12, 12])],
                   [tensor("deconv3_out", [1, 3, 12, 12])], opset=9, producer="pytorch 1.0")


# ---- tf2onnx / keras2onnx ---------------------------------------------------------------------


def _tf_conv(g: Graph, x: str, name: str, cin: int, cout: int, k: int, stride: int,
             auto_pad: str, group: int = 1) -> str:
    return g.node("Conv", [x, g.weight(f"{name}/kernel:0", (cout, cin // group, k, k)),
                           g.weight(f"{name}/bias:0", (cout,))], f"{name}/BiasAdd:0",
                  name=f"{name}/Conv2D", auto_pad=auto_pad, dilations=[1, 1], group=group,
                  kernel_shape=[k, k], strides=[stride, stride])


def _relu6(g: Graph, x: str, name: str, opset: int) -> str:
    if opset >= 11:  # bounds as inputs
        return g.node("Clip", [x, g.floats(f"{name}/min", 0.0), g.floats(f"{name}/max", 6.0)],
                      f"{name}:0", name=name)
    return g.node("Clip", [x], f"{name}:0", name=name, min=0.0, max=6.0)


def tf2onnx_mobilenet() -> Replica:
    """tf2onnx, opset 13: an NHWC input (``unk__123`` batch) transposed to NCHW, Conv with
    ``auto_pad`` SAME_UPPER and VALID, a depthwise Conv (``group``), ReLU6 as Clip with bound
    inputs, an explicit Pad (pads as an input), MaxPool and AveragePool with SAME_UPPER,
    Identity chains, the map transposed back to NHWC, reduced, Squeezed (axes as an input),
    then MatMul + Add and Softmax. No value_info."""
    g, opset = Graph(7), 13
    x = "input_1:0"
    h = g.node("Transpose", [x], "model/conv1/Conv2D__6:0", perm=[0, 3, 1, 2])
    h = _relu6(g, _tf_conv(g, h, "model/conv1", 3, 8, 3, 2, "SAME_UPPER"), "model/conv1_relu/Relu6", opset)
    h = _relu6(g, _tf_conv(g, h, "model/dw1", 8, 8, 3, 1, "SAME_UPPER", group=8),
               "model/dw1_relu/Relu6", opset)
    h = _tf_conv(g, h, "model/pw1", 8, 12, 1, 1, "VALID")
    h = g.node("Pad", [h, g.ints("model/pad/Pad__20:0", [0, 0, 0, 1, 0, 0, 1, 0])],
               "model/pad/Pad:0", mode="constant")
    h = g.node("Relu", [_tf_conv(g, h, "model/conv2", 12, 12, 3, 2, "VALID")], "model/conv2/Relu:0")
    h = g.node("MaxPool", [h], "model/pool/MaxPool:0", auto_pad="SAME_UPPER", kernel_shape=[2, 2],
               strides=[1, 1])
    h = g.node("AveragePool", [h], "model/avg/AvgPool:0", auto_pad="SAME_UPPER",
               kernel_shape=[3, 3], strides=[2, 2])
    h = g.node("Identity", [g.node("Identity", [h], "model/dropout/Identity:0")],
               "model/dropout/Identity_1:0")
    h = g.node("Transpose", [h], "model/avg/AvgPool__30:0", perm=[0, 2, 3, 1])
    h = g.node("ReduceMean", [h], "model/gap/Mean:0", axes=[1, 2], keepdims=1)
    h = g.node("Squeeze", [h, g.ints("model/gap/Squeeze__axes", [1, 2])], "model/gap/Squeeze:0")
    h = g.node("MatMul", [h, g.weight("model/dense/MatMul/ReadVariableOp:0", (12, 5))],
               "model/dense/MatMul:0")
    h = g.node("Add", [h, g.weight("model/dense/BiasAdd/ReadVariableOp:0", (5,))],
               "model/dense/BiasAdd:0")
    g.node("Softmax", [h], "dense", axis=-1)
    return g.model("tf2onnx", [tensor(x, ["unk__123", 16, 16, 3])], [tensor("dense", ["unk__123", 5])],
                   opset=opset, producer="tf2onnx")


def keras2onnx_cnn() -> Replica:
    """keras2onnx, opset 10: NHWC input (batch ``N``), ReLU6 as Clip attributes, Conv with
    SAME_UPPER (stride 2) and SAME_LOWER (an even kernel: the extra row before), ZeroPadding2D
    as Pad with attributes, MaxPool VALID, a Keras Conv1D written as
    Unsqueeze → Conv → Squeeze (axes as attributes), Flatten in NHWC order via Transpose and
    Reshape, MatMul + Add."""
    g, opset = Graph(8), 10
    x = "input_1"
    h = g.node("Transpose", [x], "adjusted_input1", perm=[0, 3, 1, 2])
    h = _relu6(g, _tf_conv(g, h, "conv2d_1", 1, 6, 4, 2, "SAME_UPPER"), "re_lu_1", opset)
    h = g.node("Pad", [h], "zero_padding2d_1", mode="constant", pads=[0, 0, 1, 1, 0, 0, 1, 1],
               value=0.0)  # ZeroPadding2D, pads as an attribute before opset 11: 6×6×6
    h = _relu6(g, _tf_conv(g, h, "conv2d_2", 6, 6, 2, 1, "SAME_LOWER"), "re_lu_2", opset)
    h = g.node("MaxPool", [h], "max_pooling2d_1", auto_pad="VALID", kernel_shape=[3, 3],
               strides=[3, 3])  # 6×2×2
    h = g.node("Transpose", [h], "max_pooling2d_1_nhwc", perm=[0, 2, 3, 1])
    h = g.node("Reshape", [h, g.ints("flatten_1_shape", [-1, 24])], "flatten_1")  # N×(2·2·6)
    h = g.node("Unsqueeze", [h], "conv1d_1_expand", axes=[1, 2])  # N×1×1×24
    h = _tf_conv(g, h, "conv1d_1", 1, 4, 1, 1, "VALID")  # N×4×1×24
    h = g.node("Squeeze", [h], "conv1d_1_squeeze", axes=[2])  # N×4×24
    h = g.node("Flatten", [h], "flatten_2", axis=1)
    h = g.node("MatMul", [h, g.weight("dense_1/kernel:0", (96, 3))], "dense_1_matmul")
    g.node("Add", [h, g.weight("dense_1/bias:0", (3,))], "dense_1")
    return g.model("keras_model", [tensor(x, ["N", 8, 8, 1])], [tensor("dense_1", ["N", 3])],
                   opset=opset, producer="keras2onnx")


def tf2onnx_conv1d() -> Replica:
    """tf2onnx, opset 13, a Keras Conv1D: the N×W×C sequence Unsqueezed (axes as an input) to
    N×1×W×C, transposed to NCHW, a 1×3 Conv with SAME_UPPER, transposed back and Squeezed;
    GlobalMaxPool1D as ReduceMax, then MatMul + Add."""
    g = Graph(14)
    x = "input_1:0"
    h = g.node("Unsqueeze", [x, g.ints("model/conv1d/conv1d/ExpandDims__5:0", [1])],
               "model/conv1d/conv1d/ExpandDims:0")
    h = g.node("Transpose", [h], "model/conv1d/conv1d__7:0", perm=[0, 3, 1, 2])
    h = g.node("Conv", [h, g.weight("model/conv1d/conv1d/ExpandDims_1:0", (6, 4, 1, 3)),
                        g.weight("model/conv1d/BiasAdd/ReadVariableOp:0", (6,))],
               "model/conv1d/conv1d:0", auto_pad="SAME_UPPER", kernel_shape=[1, 3], strides=[1, 2],
               dilations=[1, 1], group=1)
    h = g.node("Transpose", [h], "model/conv1d/conv1d__9:0", perm=[0, 2, 3, 1])
    h = g.node("Squeeze", [h, g.ints("model/conv1d/conv1d/Squeeze__axes", [1])],
               "model/conv1d/conv1d/Squeeze:0")
    h = g.node("Relu", [h], "model/conv1d/Relu:0")
    h = g.node("ReduceMax", [h], "model/global_max_pooling1d/Max:0", axes=[1], keepdims=0)
    h = g.node("MatMul", [h, g.weight("model/dense/MatMul/ReadVariableOp:0", (6, 2))],
               "model/dense/MatMul:0")
    g.node("Add", [h, g.weight("model/dense/BiasAdd/ReadVariableOp:0", (2,))], "dense")
    return g.model("tf2onnx", [tensor(x, ["unk__21", 10, 4])], [tensor("dense", ["unk__21", 2])],
                   opset=13, producer="tf2onnx")


# ---- operators other exporters use: Sum/Mean, Gemm α β, Constant, Upsample, Resize ---------


def merges_and_gemm() -> Replica:
    """Sum and Mean of three tensors, Gemm with alpha ≠ 1 and beta ≠ 1 (and a bias of one
    number), weights in Constant nodes, and an opset_import listing other domains."""
    g = Graph(9)
    x = "input"
    branches = [g.node("Gemm", [x, g.constant_node(f"w{i}", g.rng.normal(size=(6, 8)).astype(np.float32)),
                                g.constant_node(f"b{i}", g.rng.normal(size=(8,)).astype(np.float32))],
                       f"branch{i}", alpha=0.5, beta=2.0) for i in range(3)]
    total = g.node("Sum", branches, "sum")
    mean = g.node("Mean", branches, "mean")
    h = g.node("Relu", [g.node("Add", [total, mean], "both")], "relu")
    g.node("Gemm", [h, g.weight("head_w", (4, 8)), g.weight("head_b", (4,))], "logits",
           alpha=1.5, beta=0.25, transB=1)
    return g.model("merges", [tensor(x, ["batch", 6])], [tensor("logits", ["batch", 4])], opset=11,
                   domains=(("ai.onnx.ml", 2), ("com.microsoft", 1)), producer="skl2onnx")


def _head(g: Graph, h: str, cin: int) -> str:
    return g.node("Conv", [h, g.weight("head_w", (2, cin, 3, 3)), g.weight("head_b", (2,))], "y",
                  kernel_shape=[3, 3], pads=[1, 1, 1, 1])


def upsample_7() -> Replica:
    """Upsample-7 (nearest, scales as an attribute), as pre-1.0 torch and Caffe2 wrote it."""
    g = Graph(10)
    h = g.node("Relu", [g.node("Conv", ["x", g.weight("w", (4, 3, 1, 1))], "c", kernel_shape=[1, 1])],
               "r")
    h = g.node("Upsample", [h], "up", mode="nearest", scales=[1.0, 1.0, 2.0, 2.0])
    _head(g, h, 4)
    return g.model("upsample7", [tensor("x", [1, 3, 5, 5])], [tensor("y", [1, 2, 10, 10])],
                   opset=7, ir_version=3)


def upsample_9(mode: str = "nearest") -> Replica:
    """Upsample-9 (scales as an input); in ``linear`` mode its grid is asymmetric."""
    g = Graph(11)
    h = g.node("Upsample", ["x", g.floats("scales", [1.0, 1.0, 2.0, 2.0])], "up", mode=mode)
    _head(g, h, 3)
    return g.model(f"upsample9_{mode}", [tensor("x", ["N", 3, 4, 4])], [tensor("y", ["N", 2, 8, 8])],
                   opset=9)


def resize_scales_11() -> Replica:
    """Resize-11 by scales, nearest, as tf2onnx writes it (asymmetric grid, floor), and an
    empty roi."""
    g = Graph(12)
    h = g.node("Resize", ["x", g.floats("roi", []), g.floats("scales", [1.0, 1.0, 3.0, 3.0])], "up",
               mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    _head(g, h, 3)
    return g.model("resize11", [tensor("x", ["N", 3, 3, 3])], [tensor("y", ["N", 2, 9, 9])], opset=11)


def resize_sizes_13() -> Replica:
    """Resize-13 to sizes, linear with half_pixel (torch's bilinear, align_corners=False)."""
    g = Graph(13)
    h = g.node("Resize", ["x", "", "", g.ints("sizes", [1, 3, 8, 8])], "up", mode="linear",
               coordinate_transformation_mode="half_pixel")
    _head(g, h, 3)
    return g.model("resize13", [tensor("x", [1, 3, 4, 4])], [tensor("y", [1, 2, 8, 8])], opset=13)


REPLICAS: dict[str, Callable[[], Replica]] = {
    "cntk_mnist": cntk_mnist, "caffe2_squeezenet": caffe2_squeezenet,
    "caffe2_squeezenet_opset6": lambda: caffe2_squeezenet(6),
    "caffe2_resnet_opset5": caffe2_resnet_opset5, "caffe2_opset3": caffe2_opset3,
    "fast_neural_style": fast_neural_style, "caffe2_alexnet": caffe2_alexnet, "caffenet": caffenet, "mxnet_resnet_v1": mxnet_resnet_v1,
    "mxnet_resnet_v2": mxnet_resnet_v2, "tf2onnx_mobilenet": tf2onnx_mobilenet,
    "keras2onnx_cnn": keras2onnx_cnn, "tf2onnx_conv1d": tf2onnx_conv1d, "merges_and_gemm": merges_and_gemm,
    "upsample_7": upsample_7, "upsample_9": upsample_9,
    "upsample_9_linear": lambda: upsample_9("linear"), "resize_scales_11": resize_scales_11,
    "resize_sizes_13": resize_sizes_13,
}
