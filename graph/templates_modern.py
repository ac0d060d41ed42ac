"""Templates of the networks people pick today: MobileNetV2, MobileNetV3-Small, EfficientNet-B0,
ConvNeXt and ViT, and a token-sequence classifier.

Parameter counts equal torchvision's for the same configuration. MobileNetV2, MobileNetV3-Small
and EfficientNet-B0 also have torchvision's exact ``state_dict`` keys and shapes (their
``features.N`` numbering comes from chain blocks whose layers are named 0, 1 …, which compile to
``nn.Sequential``), so torchvision weights load by name; ConvNeXt and ViT have the same tensor
shapes. Squeeze-and-excitation is a block of its own (``SqueezeExcitation``: torchvision's
``avgpool``, ``fc1``, ``fc2``). Stochastic depth uses one drop probability per stage (torchvision
raises it block by block); it only matters while training.
"""
from __future__ import annotations

import math
from dataclasses import replace as dataclass_replace
from typing import Any

from .design import Design
from .template_kit import _CHANNELS, _CLASSES, _DIGITS, _SIZE, Template, TemplateArg, _block, _Net

# Activations by code, for the "act" argument of the convolution blocks.
NO_ACT, RELU6, HARDSWISH, RELU, SILU = 0, 1, 2, 3, 4
_ACTS = ((RELU6, "ReLU6"), (HARDSWISH, "Hardswish"), (RELU, "ReLU"), (SILU, "SiLU"))


def make_divisible(value: float, divisor: int = 8) -> int:
    """torchvision's ``_make_divisible``: round channels to a multiple of ``divisor``, never
    more than 10 % below ``value``."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def _conv_norm_act(design: Design, eps: float = 1e-5, momentum: float = 0.1) -> None:
    """torchvision's ``Conv2dNormActivation``: convolution, batch norm, optional activation."""
    _, net = _block(design, "ConvNormActivation",
                    {"channels": 32, "kernel": 3, "stride": 1, "groups": 1, "act": RELU6},
                    "Convolution (no bias), batch norm and an activation (act: 0 none, 1 ReLU6, "
                    "2 Hardswish, 3 ReLU, 4 SiLU).")
    net.add("Input", "x", None, shape=[32, 32, 32])
    net.add("Conv2d", "0", out_channels="channels", kernel_size="kernel", stride="stride",
            padding="(kernel - 1) // 2", groups="groups", bias=False)
    net.add("BatchNorm2d", "1", eps=eps, momentum=momentum)
    for i, (code, act) in enumerate(_ACTS):
        net.add(act, str(2 + i), when=f"act == {code}")
    net.add("Output", "out")


def _squeeze_excitation(design: Design) -> None:
    """torchvision's ``SqueezeExcitation``: pool, 1×1 down, activation, 1×1 up, gate, scale."""
    _, net = _block(design, "SqueezeExcitation", {"channels": 64, "squeeze": 16, "hard": 1},
                    "Squeeze-and-excitation: channel weights from the pooled map (hard: "
                    "ReLU + Hardsigmoid as in MobileNetV3, else SiLU + Sigmoid as in "
                    "EfficientNet).")
    x = net.add("Input", "x", None, shape=[64, 8, 8])
    net.add("AdaptiveAvgPool2d", "avgpool", output_size=1)
    net.add("Conv2d", "fc1", out_channels="squeeze", kernel_size=1, padding=0)
    net.add("ReLU", "activation", when="hard")
    net.add("SiLU", "activation_silu", when="not hard")
    net.add("Conv2d", "fc2", out_channels="channels", kernel_size=1, padding=0)
    net.add("Hardsigmoid", "scale_activation", when="hard")
    gate = net.add("Sigmoid", "scale_sigmoid", when="not hard")
    net.add("Multiply", "scale", [x, gate])
    net.add("Output", "out")


def _residual_wrappers(design: Design, name: str, inner: str, attr: str, args: dict[str, int],
                       drop_path: float | None = None) -> None:
    """``name`` (inner block ``attr`` plus the input: stride 1 and same width) and
    ``name``NoSkip (the inner block alone), so module paths read ``features.3.conv.0.0``."""
    inner_args = {a: a for a in args}
    _, net = _block(design, name, args, f"{inner} with a residual connection.")
    x = net.add("Input", "x", None, shape=[32, 32, 32])
    net.add(inner, attr, **inner_args)
    if drop_path is not None:
        net.add("DropPath", "stochastic_depth", p=drop_path)
    net.add("Add", "add", [net.last, x])
    net.add("Output", "out")
    _, net = _block(design, name + "NoSkip", args, f"{inner} without a residual connection "
                    "(it changes stride or width).")
    net.add("Input", "x", None, shape=[32, 32, 32])
    net.add(inner, attr, **inner_args)
    net.add("Output", "out")


def _head(design: Design, net: _Net, layers: list[tuple[str, dict[str, Any]]]) -> None:
    """Global average pool, flatten and a ``classifier`` chain block of ``layers``."""
    _, body = _block(design, "Classifier", {}, "The classification head.")
    body.add("Input", "x", None, shape=[1280])
    for i, (type_id, params) in enumerate(layers):
        body.add(type_id, str(i), **params)
    body.add("Output", "out")
    net.add("AdaptiveAvgPool2d", "avgpool", output_size=1)
    net.add("Flatten", "flatten")
    net.add("Classifier", "classifier")
    net.add("Output", "out")


def _features(design: Design, nodes: list[tuple[str, dict[str, Any]]], channels: int) -> None:
    """The ``Features`` block: a chain of ``nodes`` named 0, 1 … (torchvision's ``features``)."""
    _, body = _block(design, "Features", {}, "The convolutional trunk, stage after stage.")
    body.add("Input", "x", None, shape=[channels, 224, 224])
    for i, (type_id, params) in enumerate(nodes):
        body.add(type_id, str(i), **params)
    body.add("Output", "out")


def _top(design: Design, args: dict[str, Any]) -> _Net:
    net = _Net(design)
    net.add("Input", "x", None, shape=[args["in_channels"], args["size"], args["size"]])
    net.add("Features", "features")
    return net


def _scaled(args: dict[str, Any], channels: int) -> int:
    return make_divisible(channels * args["width"] / 100)


def _repeats(args: dict[str, Any], n: int) -> int:
    return int(math.ceil(n * args["depth"] / 100))


# ---- MobileNetV2 --------------------------------------------------------------------------------

MOBILENET_V2 = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1))  # expansion, channels, repeats, first stride


def _mobilenet_v2(args: dict[str, Any]) -> Design:
    design = Design("MobileNetV2")
    _conv_norm_act(design)
    _, net = _block(design, "InvertedResidualConv",
                    {"hidden": 96, "out": 24, "stride": 1, "expand": 1},
                    "MobileNetV2's inverted residual: 1×1 expansion, 3×3 depthwise, 1×1 "
                    "projection.")
    net.add("Input", "x", None, shape=[16, 32, 32])
    net.add("ConvNormActivation", "0", when="expand", channels="hidden", kernel=1)
    net.add("ConvNormActivation", "1", channels="hidden", stride="stride", groups="hidden")
    net.add("Conv2d", "2", out_channels="out", kernel_size=1, padding=0, bias=False)
    net.add("BatchNorm2d", "3")
    net.add("Output", "out")
    _residual_wrappers(design, "InvertedResidual", "InvertedResidualConv", "conv",
                       {"hidden": 96, "out": 24, "stride": 1, "expand": 1})
    width = _scaled(args, 32)
    nodes: list[tuple[str, dict[str, Any]]] = [("ConvNormActivation",
                                                {"channels": width, "stride": 2})]
    for t, c, n, s in MOBILENET_V2:
        out = _scaled(args, c)
        for i in range(_repeats(args, n)):
            stride = s if i == 0 else 1
            kind = "InvertedResidual" if stride == 1 and width == out else "InvertedResidualNoSkip"
            nodes.append((kind, {"hidden": int(round(width * t)), "out": out, "stride": stride,
                                 "expand": int(t != 1)}))
            width = out
    last = make_divisible(1280 * max(1.0, args["width"] / 100))
    nodes.append(("ConvNormActivation", {"channels": last, "kernel": 1}))
    _features(design, nodes, args["in_channels"])
    net = _top(design, args)
    _head(design, net, [("Dropout", {"p": 0.2}), ("Linear", {"out_features": args["classes"]})])
    return design


# ---- MobileNetV3-Small --------------------------------------------------------------------------

MOBILENET_V3_SMALL = (  # kernel, expanded, out, squeeze-excite, activation, stride (input 16)
    (3, 16, 16, True, RELU, 2), (3, 72, 24, False, RELU, 2), (3, 88, 24, False, RELU, 1),
    (5, 96, 40, True, HARDSWISH, 2), (5, 240, 40, True, HARDSWISH, 1),
    (5, 240, 40, True, HARDSWISH, 1), (5, 120, 48, True, HARDSWISH, 1),
    (5, 144, 48, True, HARDSWISH, 1), (5, 288, 96, True, HARDSWISH, 2),
    (5, 576, 96, True, HARDSWISH, 1), (5, 576, 96, True, HARDSWISH, 1))


def _mbconv_body(design: Design, name: str, doc: str, hard: int) -> None:
    """The ``block`` of MobileNetV3's and EfficientNet's inverted residuals."""
    _, net = _block(design, name, {"hidden": 72, "out": 24, "kernel": 3, "stride": 1,
                                   "expand": 1, "se": 1, "squeeze": 16, "act": RELU}, doc)
    net.add("Input", "x", None, shape=[16, 32, 32])
    net.add("ConvNormActivation", "0", when="expand", channels="hidden", kernel=1, act="act")
    net.add("ConvNormActivation", "1", channels="hidden", kernel="kernel", stride="stride",
            groups="hidden", act="act")
    net.add("SqueezeExcitation", "2", when="se", channels="hidden", squeeze="squeeze", hard=hard)
    net.add("ConvNormActivation", "3", channels="out", kernel=1, act=NO_ACT)
    net.add("Output", "out")


def _mobilenet_v3_small(args: dict[str, Any]) -> Design:
    design = Design("MobileNetV3-Small")
    _conv_norm_act(design, eps=0.001, momentum=0.01)
    _squeeze_excitation(design)
    _mbconv_body(design, "InvertedResidualBlock", "MobileNetV3's inverted residual: optional "
                 "1×1 expansion, depthwise convolution, optional squeeze-excite, 1×1 "
                 "projection.", hard=1)
    block_args = {"hidden": 72, "out": 24, "kernel": 3, "stride": 1, "expand": 1, "se": 1,
                  "squeeze": 16, "act": RELU}
    _residual_wrappers(design, "InvertedResidual", "InvertedResidualBlock", "block", block_args)
    width = _scaled(args, 16)
    nodes: list[tuple[str, dict[str, Any]]] = [
        ("ConvNormActivation", {"channels": width, "stride": 2, "act": HARDSWISH})]
    for kernel, expanded, out, se, act, stride in MOBILENET_V3_SMALL:
        hidden, out = _scaled(args, expanded), _scaled(args, out)
        kind = "InvertedResidual" if stride == 1 and width == out else "InvertedResidualNoSkip"
        nodes.append((kind, {"hidden": hidden, "out": out, "kernel": kernel, "stride": stride,
                             "expand": int(hidden != width), "se": int(se),
                             "squeeze": make_divisible(hidden // 4), "act": act}))
        width = out
    nodes.append(("ConvNormActivation", {"channels": 6 * width, "kernel": 1, "act": HARDSWISH}))
    _features(design, nodes, args["in_channels"])
    net = _top(design, args)
    _head(design, net, [("Linear", {"out_features": _scaled(args, 1024)}),
                        ("Hardswish", {}), ("Dropout", {"p": 0.2}),
                        ("Linear", {"out_features": args["classes"]})])
    return design


# ---- EfficientNet-B0 ----------------------------------------------------------------------------

EFFICIENTNET_B0 = ((1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2),
                   (6, 3, 2, 40, 80, 3), (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4),
                   (6, 3, 1, 192, 320, 1))  # expansion, kernel, stride, in, out, repeats


def _efficientnet(args: dict[str, Any]) -> Design:
    design = Design("EfficientNet-B0")
    _conv_norm_act(design)
    _squeeze_excitation(design)
    _mbconv_body(design, "MBConvBlock", "EfficientNet's MBConv: optional 1×1 expansion, "
                 "depthwise convolution, squeeze-excite, 1×1 projection.", hard=0)
    block_args = {"hidden": 72, "out": 24, "kernel": 3, "stride": 1, "expand": 1, "se": 1,
                  "squeeze": 16, "act": SILU}
    stages = [(t, k, s, _scaled(args, i), _scaled(args, o), _repeats(args, n))
              for t, k, s, i, o, n in EFFICIENTNET_B0]
    total, done = sum(st[-1] for st in stages), 0
    width = stages[0][3]
    nodes: list[tuple[str, dict[str, Any]]] = [
        ("ConvNormActivation", {"channels": width, "stride": 2, "act": SILU})]
    for number, (t, k, s, _, out, n) in enumerate(stages, start=1):
        drop = round(0.2 * (done + (n - 1) / 2) / total, 4)  # the stage's mean probability
        _residual_wrappers(design, f"MBConv{number}", "MBConvBlock", "block", block_args, drop)
        _, stage = _block(design, f"Stage{number}", {}, f"Stage {number}: {n} MBConv blocks.")
        stage.add("Input", "x", None, shape=[width, 32, 32])
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = make_divisible(width * t)
            kind = f"MBConv{number}" if stride == 1 and width == out else f"MBConv{number}NoSkip"
            stage.add(kind, str(i), hidden=hidden, out=out, kernel=k, stride=stride,
                      expand=int(t != 1), se=1, squeeze=max(1, width // 4), act=SILU)
            width = out
        stage.add("Output", "out")
        nodes.append((f"Stage{number}", {}))
        done += n
    nodes.append(("ConvNormActivation", {"channels": 4 * width, "kernel": 1, "act": SILU}))
    _features(design, nodes, args["in_channels"])
    net = _top(design, args)
    _head(design, net, [("Dropout", {"p": 0.2}), ("Linear", {"out_features": args["classes"]})])
    return design


# ---- ConvNeXt -----------------------------------------------------------------------------------

CONVNEXT_TINY = ((96, 3), (192, 3), (384, 9), (768, 3))  # channels, blocks per stage


def _convnext_blocks(design: Design) -> None:
    _, net = _block(design, "CNBlockBody", {"dim": 96, "side": 56},
                    "ConvNeXt block body: 7×7 depthwise convolution, LayerNorm and an MLP over "
                    "the channels at every position (side: the map's height and width).")
    net.add("Input", "x", None, shape=[96, 56, 56])
    net.add("Conv2d", "0", out_channels="dim", kernel_size=7, padding=3, groups="dim")
    net.add("Reshape", "1", shape=["dim", -1])
    net.add("Permute", "2", dims=[1, 0])
    net.add("LayerNorm", "3", eps=1e-6)
    net.add("Linear", "4", out_features="4 * dim")
    net.add("GELU", "5")
    net.add("Linear", "6", out_features="dim")
    net.add("Permute", "7", dims=[1, 0])
    net.add("Reshape", "8", shape=["dim", "side", "side"])
    net.add("Output", "out")
    _, net = _block(design, "CNBlock", {"dim": 96, "side": 56},
                    "ConvNeXt block: body, layer scale, stochastic depth and the shortcut.")
    x = net.add("Input", "x", None, shape=[96, 56, 56])
    net.add("CNBlockBody", "block", dim="dim", side="side")
    net.add("LayerScale", "layer_scale", init_value=1e-6)
    net.add("DropPath", "stochastic_depth", p=0.1)
    net.add("Add", "add", [net.last, x])
    net.add("Output", "out")
    _, net = _block(design, "Downsample", {"dim": 192}, "LayerNorm2d and a 2×2 stride-2 "
                    "convolution between stages.")
    net.add("Input", "x", None, shape=[96, 56, 56])
    net.add("LayerNorm2d", "0")
    net.add("Conv2d", "1", out_channels="dim", kernel_size=2, stride=2, padding=0)
    net.add("Output", "out")
    _, net = _block(design, "Stem", {"dim": 96, "patch": 4}, "Patchify stem: a patch×patch "
                    "convolution with the same stride, and LayerNorm2d.")
    net.add("Input", "x", None, shape=[3, 224, 224])
    net.add("Conv2d", "0", out_channels="dim", kernel_size="patch", stride="patch", padding=0)
    net.add("LayerNorm2d", "1")
    net.add("Output", "out")


def _convnext(args: dict[str, Any]) -> Design:
    design = Design("ConvNeXt-Tiny")
    _convnext_blocks(design)
    widths = [args["width"] * 2**i for i in range(4)]
    depths = [_repeats(args, n) for _, n in CONVNEXT_TINY]
    side = args["size"] // args["stem"]
    nodes: list[tuple[str, dict[str, Any]]] = [("Stem", {"dim": widths[0], "patch": args["stem"]})]
    for i, (dim, n) in enumerate(zip(widths, depths)):
        if i:
            side //= 2
            nodes.append(("Downsample", {"dim": dim}))
        nodes.append(("CNBlock", {"dim": dim, "side": side, "repeat": n}))
    _features(design, nodes, args["in_channels"])
    net = _top(design, args)
    _head(design, net, [("LayerNorm", {"eps": 1e-6}),
                        ("Linear", {"out_features": args["classes"]})])
    return design


# ---- Vision Transformer -------------------------------------------------------------------------


def _vit(args: dict[str, Any]) -> Design:
    design = Design(f"ViT (patch {args['patch']})")
    patches = (args["size"] // args["patch"]) ** 2
    dim = args["hidden"]
    net = _Net(design)
    net.add("Input", "x", None, shape=[args["in_channels"], args["size"], args["size"]])
    net.add("Conv2d", "conv_proj", out_channels=dim, kernel_size=args["patch"],
            stride=args["patch"], padding=0)
    net.add("Reshape", "patches", shape=[dim, patches])
    net.add("Permute", "tokens", dims=[1, 0])
    net.add("ClassToken", "class_token")
    net.add("PositionEmbedding", "pos_embedding")
    net.add("Dropout", "dropout", p=0.0)
    net.add("TransformerEncoder", "encoder", num_heads=args["heads"],
            dim_feedforward=args["mlp_dim"], dropout=0.0, activation="gelu", norm_first=True,
            layer_norm_eps=1e-6, num_layers=args["depth"])
    net.add("LayerNorm", "ln", eps=1e-6)
    net.add("Slice", "cls", dim=0, start=0, stop=1)
    net.add("Flatten", "flatten")
    net.add("Linear", "head", out_features=args["classes"])
    net.add("Output", "out")
    return design


# ---- a token-sequence classifier ----------------------------------------------------------------


def _sequence(args: dict[str, Any]) -> Design:
    kind = "Transformer" if args["transformer"] else "LSTM"
    design = Design(f"Sequence classifier ({kind})")
    net = _Net(design)
    net.add("Input", "tokens", None, shape=[args["length"]], dtype="int64")
    net.add("Embedding", "embedding", num_embeddings=args["vocab"], embedding_dim=args["dim"])
    if args["transformer"]:
        net.add("PositionEmbedding", "positions")
        net.add("TransformerEncoder", "encoder", num_heads=args["heads"],
                dim_feedforward=2 * args["dim"], num_layers=args["layers"], norm_first=True,
                activation="gelu", dropout=0.1)
        net.add("Mean", "pool", dims=[0])
    else:
        net.add("LSTM", "lstm", hidden_size=args["dim"], num_layers=args["layers"],
                bidirectional=True)
    net.add("Linear", "head", out_features=args["classes"])
    net.add("Output", "out")
    return design


_WIDTH = TemplateArg("width", 100, "Channel width in percent of the original (torchvision's "
                     "width_mult × 100).", max=1000)
_DEPTH = TemplateArg("depth", 100, "Blocks per stage in percent of the original (rounded up).",
                     max=1000)
_SMALL = {**_DIGITS, "width": 25}

MODERN_TEMPLATES: tuple[Template, ...] = (
    Template("mobilenet_v2", "MobileNetV2", "Sandler et al.'s MobileNetV2: inverted residuals "
             "with linear bottlenecks and ReLU6 (torchvision's names and weights).",
             (_CLASSES, _CHANNELS, _SIZE, _WIDTH, _DEPTH), _mobilenet_v2,
             aliases={"mobilenetv2": {}}, small=_SMALL),
    Template("mobilenet_v3_small", "MobileNetV3-Small", "Howard et al.'s MobileNetV3-Small: "
             "inverted residuals with squeeze-excite, Hardswish and Hardsigmoid "
             "(torchvision's names and weights).",
             (_CLASSES, _CHANNELS, _SIZE, _WIDTH), _mobilenet_v3_small,
             aliases={"mobilenetv3_small": {}}, small=_SMALL),
    Template("efficientnet_b0", "EfficientNet-B0", "Tan & Le's EfficientNet-B0: MBConv blocks "
             "with squeeze-excite, SiLU and stochastic depth (torchvision's names and weights).",
             (_CLASSES, _CHANNELS, _SIZE, _WIDTH, _DEPTH), _efficientnet,
             aliases={"efficientnet": {}}, small=_SMALL),
    Template("convnext_tiny", "ConvNeXt-Tiny", "Liu et al.'s ConvNeXt: a patchify stem and "
             "stages of 7×7 depthwise blocks with LayerNorm, GELU and layer scale "
             "(torchvision's tensor shapes).",
             (_CLASSES, _CHANNELS, _SIZE,
              TemplateArg("width", 96, "Channels of the first stage (doubling per stage)."),
              _DEPTH, TemplateArg("stem", 4, "Patch size of the stem (its stride).", max=64)),
             _convnext, aliases={"convnext": {}},
             small={**_DIGITS, "width": 16, "depth": 34, "stem": 1}),
    Template("vit_b_16", "Vision Transformer", "Dosovitskiy et al.'s ViT: image patches as "
             "tokens, a class token, learned positions and a pre-norm Transformer encoder "
             "(ViT-B/16 by default; torchvision's tensor shapes).",
             (_CLASSES, _CHANNELS, _SIZE,
              TemplateArg("patch", 16, "Patch height and width; must divide size."),
              TemplateArg("hidden", 768, "Token width."),
              TemplateArg("depth", 12, "Encoder layers.", max=256),
              TemplateArg("heads", 12, "Attention heads; must divide hidden."),
              TemplateArg("mlp_dim", 3072, "Width of each layer's MLP.")), _vit,
             aliases={"vit": {}}, small={**_DIGITS, "patch": 2, "hidden": 32, "depth": 2,
                                         "heads": 4, "mlp_dim": 64}),
    Template("sequence_classifier", "Sequence classifier", "Token ids → embedding → a "
             "bidirectional LSTM (or a Transformer encoder, mean-pooled) → classes; by default "
             "the digits read as 64 tokens of 17 grey levels.",
             (dataclass_replace(_CLASSES, default=10),
              TemplateArg("vocab", 17, "Vocabulary size (token ids 0…vocab−1)."),
              TemplateArg("length", 64, "Tokens per sample."),
              TemplateArg("dim", 32, "Embedding and hidden width."),
              TemplateArg("layers", 1, "Stacked LSTM or Transformer layers.", max=64),
              TemplateArg("heads", 4, "Attention heads (Transformer); must divide dim."),
              TemplateArg("transformer", False, "A Transformer encoder instead of the LSTM.")),
             _sequence, aliases={"text_classifier": {}}),
)
