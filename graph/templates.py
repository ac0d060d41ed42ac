"""Network templates: MLP, LeNet-5, VGG and ResNet, built from blocks, with arguments.

Each :class:`Template` is declared as data (its arguments with defaults, torchvision-style
aliases such as ``resnet50`` or ``vgg16_bn``, and the arguments of a *small* variant that trains
on the built-in 1×8×8 digits in seconds) plus a builder. :func:`build` makes a design and
remembers the template and its arguments in ``design.template``, so :func:`rebuild` can change
them later (``rebuild(design, {"depth": 34})``), keeping the design's data and training
settings, and its name unless it is still the template's own (ResNet-18 becomes ResNet-34).

The ResNet and VGG templates name their nodes as torchvision does, so their ``state_dict`` keys
and shapes equal torchvision's (``conv1, bn1, layer1.0.conv1, …, layer2.0.downsample.0, …, fc``;
``features.0, …, classifier.6``) and torchvision weights load by name.
"""
from __future__ import annotations

import copy
from dataclasses import replace as dataclass_replace
from typing import Any, Mapping

from . import layers as _layers  # noqa: F401  (fills the catalog)
from .design import Design
from .layout import lay_out
from .settings import DATASETS, dataset_classes, default_data
from .shapes import infer
from .template_kit import (_CHANNELS, _CLASSES, _DIGITS, _SIZE, Template,  # noqa: F401
                           TemplateArg, TemplateError, _block, _image_data, _input, _Net)
from .templates_modern import MODERN_TEMPLATES


# ---- ResNet -------------------------------------------------------------------------------------

RESNET_DEPTHS = {18: ("basic", (2, 2, 2, 2)), 34: ("basic", (3, 4, 6, 3)),
                 50: ("bottleneck", (3, 4, 6, 3)), 101: ("bottleneck", (3, 4, 23, 3)),
                 152: ("bottleneck", (3, 8, 36, 3))}


def _downsample(design: Design) -> None:
    """torchvision's ``downsample``: a strided 1×1 convolution and a batch norm (Sequential)."""
    _, net = _block(design, "Downsample", {"channels": 64, "stride": 1},
                    "Projection shortcut: 1×1 convolution and batch norm.")
    net.add("Input", "x", None, shape=[64, 56, 56])
    net.add("Conv2d", "0", out_channels="channels", kernel_size=1, stride="stride", padding=0,
            bias=False)
    net.add("BatchNorm2d", "1")
    net.add("Output", "out")


def _basic_block(design: Design) -> None:
    _, net = _block(design, "BasicBlock", {"planes": 64, "stride": 1, "project": 0},
                    "ResNet basic block: two 3×3 convolutions and a shortcut.")
    x = net.add("Input", "x", None, shape=[64, 56, 56])
    net.add("Conv2d", "conv1", out_channels="planes", kernel_size=3, stride="stride", padding=1,
            bias=False)
    net.add("BatchNorm2d", "bn1")
    net.add("ReLU", "relu")
    net.add("Conv2d", "conv2", out_channels="planes", kernel_size=3, stride=1, padding=1,
            bias=False)
    bn2 = net.add("BatchNorm2d", "bn2")
    short = net.add("Downsample", "downsample", x, when="project", channels="planes",
                    stride="stride")
    net.add("Add", "add", [bn2, short])
    net.add("ReLU", "relu_out")
    net.add("Output", "out")


def _bottleneck(design: Design) -> None:
    _, net = _block(design, "Bottleneck", {"planes": 64, "stride": 1, "project": 0},
                    "ResNet bottleneck block: 1×1, 3×3 and 1×1 convolutions (4× wider out).")
    x = net.add("Input", "x", None, shape=[64, 56, 56])
    net.add("Conv2d", "conv1", out_channels="planes", kernel_size=1, padding=0, bias=False)
    net.add("BatchNorm2d", "bn1")
    net.add("ReLU", "relu")
    net.add("Conv2d", "conv2", out_channels="planes", kernel_size=3, stride="stride", padding=1,
            bias=False)
    net.add("BatchNorm2d", "bn2")
    net.add("ReLU", "relu_2")
    net.add("Conv2d", "conv3", out_channels="planes * 4", kernel_size=1, padding=0, bias=False)
    bn3 = net.add("BatchNorm2d", "bn3")
    short = net.add("Downsample", "downsample", x, when="project", channels="planes * 4",
                    stride="stride")
    net.add("Add", "add", [bn3, short])
    net.add("ReLU", "relu_out")
    net.add("Output", "out")


def _resnet(args: dict[str, Any]) -> Design:
    kind, repeats = RESNET_DEPTHS[args["depth"]]
    design = Design(f"ResNet-{args['depth']}")
    _downsample(design)
    (_basic_block if kind == "basic" else _bottleneck)(design)
    block = "BasicBlock" if kind == "basic" else "Bottleneck"
    width = args["width"]
    net = _Net(design)
    _input(net, args)
    net.add("Conv2d", "conv1", out_channels=width, kernel_size=7, stride=2, padding=3, bias=False)
    net.add("BatchNorm2d", "bn1")
    net.add("ReLU", "relu")
    net.add("MaxPool2d", "maxpool", kernel_size=3, stride=2, padding=1)
    for stage, repeat in enumerate(repeats):
        first = {"stride": 2, "project": 1} if stage else (
            {"project": 1} if kind == "bottleneck" else {})
        net.add(block, f"layer{stage + 1}", planes=width * 2**stage, stride=1, project=0,
                repeat=repeat, first=first)
    net.add("AdaptiveAvgPool2d", "avgpool", output_size=1)
    net.add("Flatten", "flatten")
    net.add("Linear", "fc", out_features=args["classes"])
    net.add("Output", "out")
    return design


# ---- VGG ----------------------------------------------------------------------------------------

VGG_CONFIGS = {11: (1, 1, 2, 2, 2), 13: (2, 2, 2, 2, 2), 16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}


def _vgg_features(design: Design, args: Mapping[str, Any]) -> int:
    """torchvision's ``features`` (one Sequential); returns the spatial size it ends with."""
    _, net = _block(design, "Features", {"width": 64},
                    "VGG convolutions: stages of 3×3 convolutions, each ending in a max pool.")
    net.add("Input", "x", None, shape=[args["in_channels"], args["size"], args["size"]])
    size, index = args["size"], 0
    for stage, convs in enumerate(VGG_CONFIGS[args["depth"]]):
        channels = "width" if stage == 0 else f"width * {min(2**stage, 8)}"
        for _ in range(convs):
            net.add("Conv2d", str(index), out_channels=channels, kernel_size=3, padding=1)
            index += 1
            if args["batch_norm"]:
                net.add("BatchNorm2d", str(index))
                index += 1
            net.add("ReLU", str(index))
            index += 1
        if size >= 2:  # small inputs skip the pools they are too small for
            net.add("MaxPool2d", str(index), kernel_size=2, stride=2)
            index += 1
            size //= 2
    net.add("Output", "out")
    return size


def _vgg_classifier(design: Design) -> None:
    _, net = _block(design, "Classifier", {"hidden": 4096, "classes": 1000},
                    "VGG head: two hidden fully connected layers with dropout.")
    net.add("Input", "x", None, shape=[25088])
    for i in (0, 3):
        net.add("Linear", str(i), out_features="hidden")
        net.add("ReLU", str(i + 1))
        net.add("Dropout", str(i + 2), p=0.5)
    net.add("Linear", "6", out_features="classes")
    net.add("Output", "out")


def _vgg(args: dict[str, Any]) -> Design:
    design = Design(f"VGG-{args['depth']}" + (" with batch norm" if args["batch_norm"] else ""))
    end = _vgg_features(design, args)
    _vgg_classifier(design)
    net = _Net(design)
    _input(net, args)
    net.add("Features", "features", width=args["width"])
    net.add("AdaptiveAvgPool2d", "avgpool", output_size=7 if end >= 7 else 1)
    net.add("Flatten", "flatten")
    net.add("Classifier", "classifier", hidden=args["hidden"], classes=args["classes"])
    net.add("Output", "out")
    return design


# ---- MLP and LeNet-5 ----------------------------------------------------------------------------


def _mlp(args: dict[str, Any]) -> Design:
    design = Design(f"MLP {args['depth']}×{args['width']}")
    _, body = _block(design, "Hidden", {"units": 128}, "A fully connected layer and a ReLU.")
    body.add("Input", "x", None, shape=[args["in_features"]])
    body.add("Linear", "linear", out_features="units")
    body.add("ReLU", "relu")
    body.add("Output", "out")
    net = _Net(design)
    net.add("Input", "x", None, shape=[args["in_features"]])
    net.add("Hidden", "hidden", units=args["width"], repeat=args["depth"])
    net.add("Linear", "head", out_features=args["classes"])
    net.add("Output", "out")
    return design


def _lenet(args: dict[str, Any]) -> Design:
    design = Design("LeNet-5")
    _, body = _block(design, "ConvPool", {"channels": 16, "padding": 0},
                     "A 5×5 convolution, ReLU and 2×2 max pool.")
    body.add("Input", "x", None, shape=[args["in_channels"], args["size"], args["size"]])
    body.add("Conv2d", "conv", out_channels="channels", kernel_size=5, padding="padding")
    body.add("ReLU", "relu")
    body.add("MaxPool2d", "pool", kernel_size=2, stride=2)
    body.add("Output", "out")
    padding = 0 if args["size"] >= 32 else 2  # smaller inputs keep their size through the convs
    net = _Net(design)
    _input(net, args)
    net.add("ConvPool", "features", channels=16, padding=padding, repeat=2,
            first={"channels": 6})
    net.add("Flatten", "flatten")
    net.add("Linear", "fc1", out_features=120)
    net.add("ReLU", "relu1")
    net.add("Linear", "fc2", out_features=84)
    net.add("ReLU", "relu2")
    net.add("Linear", "fc3", out_features=args["classes"])
    net.add("Output", "out")
    return design


# ---- the declarations -------------------------------------------------------------------------

TEMPLATES: dict[str, Template] = {t.name: t for t in (
    Template("mlp", "MLP", "A multilayer perceptron: depth hidden layers of width units.",
             (TemplateArg("depth", 2, "Number of hidden layers.", max=1000),
              TemplateArg("width", 128, "Units per hidden layer."),
              TemplateArg("in_features", 64, "Features per sample."),
              dataclass_replace(_CLASSES, default=10)),
             _mlp, small={"width": 32}),
    Template("lenet", "LeNet-5", "LeCun's LeNet-5: two convolution+pool blocks, three fully "
             "connected layers.",
             (dataclass_replace(_CLASSES, default=10), dataclass_replace(_CHANNELS, default=1),
              dataclass_replace(_SIZE, default=32)),
             _lenet, aliases={"lenet5": {}}, small=_DIGITS),
    Template("vgg", "VGG", "Simonyan & Zisserman's VGG: stages of 3×3 convolutions, three fully "
             "connected layers (torchvision's names and weights).",
             (TemplateArg("depth", 16, "Convolution + fully connected layers.",
                          choices=tuple(VGG_CONFIGS)),
              TemplateArg("batch_norm", False, "Batch norm after every convolution."),
              _CLASSES, _CHANNELS, _SIZE,
              TemplateArg("width", 64, "Channels of the first stage (doubling up to 8×)."),
              TemplateArg("hidden", 4096, "Units of the two hidden fully connected layers.")),
             _vgg,
             aliases={f"vgg{d}{'_bn' * bn}": {"depth": d, "batch_norm": bn}
                      for d in VGG_CONFIGS for bn in (False, True)},
             small={**_DIGITS, "width": 8, "hidden": 64}),
    Template("resnet", "ResNet", "He et al.'s residual network: a stem, four stages of "
             "repeated residual blocks, global pooling and a linear classifier (torchvision's "
             "names and weights).",
             (TemplateArg("depth", 18, "Layers: 18 and 34 use basic blocks, 50, 101 and 152 "
                          "bottlenecks.", choices=tuple(RESNET_DEPTHS)),
              _CLASSES, _CHANNELS, _SIZE,
              TemplateArg("width", 64, "Channels of the first stage (doubling per stage).")),
             _resnet,
             aliases={f"resnet{d}": {"depth": d} for d in RESNET_DEPTHS},
             small={**_DIGITS, "width": 8}),
    *MODERN_TEMPLATES,
)}


def names() -> list[str]:
    return list(TEMPLATES)


def lookup(name: str) -> tuple[Template, dict[str, Any]]:
    """The template called ``name`` or aliased so (``resnet50``), with the alias' arguments."""
    key = name.strip().lower().replace("-", "_")
    if key in TEMPLATES:
        return TEMPLATES[key], {}
    for template in TEMPLATES.values():
        if key in template.aliases:
            return template, dict(template.aliases[key])
    known = ", ".join(sorted(TEMPLATES) + sorted(a for t in TEMPLATES.values() for a in t.aliases))
    raise TemplateError(f"unknown template {name!r} (known: {known})")


def build(name: str, args: Mapping[str, Any] | None = None, small: bool = False) -> Design:
    """A new design from template ``name`` (or an alias) with ``args``; ``small`` starts from the
    variant that trains on the built-in digits. The design remembers template and arguments."""
    template, alias_args = lookup(name)
    wanted = {**(template.small if small else {}), **alias_args, **(args or {})}
    resolved = template.resolve(wanted)
    design = template.builder(resolved)
    design.data = _data_for(template, resolved)
    design.template = {"name": template.name, "args": copy.deepcopy(resolved)}
    sync_example_shapes(design)
    lay_out(design)
    return design


def rebuild(design: Design, changes: Mapping[str, Any]) -> Design:
    """``design``'s template built again with ``changes`` to its arguments (``{"depth": 34}``);
    the description, data and training settings are kept, and the name unless the user kept
    the template's own (then ResNet-18 becomes ResNet-34)."""
    if not design.template:
        raise TemplateError("this design was not made from a template")
    template, _ = lookup(design.template["name"])
    old_args = design.template.get("args", {})
    fresh = build(template.name, {**old_args, **changes})
    if design.name != template.builder(template.resolve(old_args)).name:
        fresh.name = design.name
    fresh.description = design.description
    fresh.data, fresh.training = copy.deepcopy(design.data), copy.deepcopy(design.training)
    return fresh


def edited_since_built(design: Design) -> bool:
    """Whether ``design``'s network is no longer what its template makes with its remembered
    arguments — layers added, removed, linked or set otherwise (where they sit does not
    count): building it again, for new arguments, would leave those edits out."""
    if not design.template:
        return False
    template, _ = lookup(design.template["name"])
    fresh = build(template.name, design.template.get("args", {}))
    return _with_blocks(design) != _with_blocks(fresh)


def _with_blocks(design: Design) -> tuple:
    """What a design's network is, by names (ids and positions aside), with its blocks'."""
    blocks = tuple((b.name, repr(sorted(b.args.items())), _network(b.body))
                   for b in design.blocks)
    return _network(design), blocks


def _network(design: Design) -> tuple:
    """One network's layers and links, by names."""
    names = {n.id: n.name for n in design.nodes}
    layers = sorted(repr((n.type, n.name, sorted(n.params.items()), n.when, n.trainable,
                          n.lr_mult)) for n in design.nodes)
    links = sorted((names[e.src], e.src_port, names[e.dst], e.dst_port) for e in design.edges)
    return tuple(layers), tuple(links)


def fits_builtin_data(name: str, args: Mapping[str, Any] | None = None) -> bool:
    """Whether the network template ``name`` makes with ``args`` (its full size when none)
    trains on a built-in dataset as it is: its input and classes are the digits'. When not, it
    needs the user's own data, and the small variant is the one that trains out of the box."""
    template, alias_args = lookup(name)
    resolved = template.resolve({**alias_args, **(args or {})})
    data = _data_for(template, resolved)
    spec = DATASETS.get(data.get("name"))
    return (spec is not None and spec.kind == "builtin"
            and resolved.get("classes", dataset_classes(data)) == dataset_classes(data))


def _data_for(template: Template, args: Mapping[str, Any]) -> dict[str, Any]:
    if "in_features" in args or "vocab" in args:  # the digits as 64 features (or tokens)
        data = default_data()
        data["options"] = dict(data["options"], as_images=False)
        return data
    return _image_data(args)


def sync_example_shapes(design: Design) -> None:
    """Give each block body's Input nodes the shapes its first instance receives, so a body
    shown on its own shows real shapes."""
    done: set[str] = set()
    pending = [(design, infer(design))]
    while pending:
        network, inference = pending.pop()
        for nid, copies in inference.expansions.items():
            block = design.blocks[copies[0].block]
            if block.name in done:
                continue
            done.add(block.name)
            shapes = inference.input_shapes[nid]
            for node, shape in zip(block.body.inputs(), shapes):
                block.body.set_param(node.id, "shape", list(shape))
            pending.append((block.body, copies[0].inference))
