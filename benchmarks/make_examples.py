"""Regenerate resources/examples/*.json from the code below (run by hand after catalog changes).

    python benchmarks/make_examples.py
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graph.design import Design, Edge  # noqa: E402
from graph.fileformat import save  # noqa: E402
from graph.settings import DATASETS  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "resources" / "examples"
STEP_Y = 110.0


class Builder:
    """Adds nodes top to bottom, each linked to the previous one unless told otherwise."""

    def __init__(self, name: str, description: str, data: str, options: dict | None = None,
                 **training):
        self.design = Design(name)
        self.design.description = description
        spec = DATASETS[data]
        d = dict(self.design.data, name=data, options=spec.resolve(options or {}))
        self.design.set_data(d)
        self.design.set_training(dict(self.design.training, **training))
        self.y = 0.0
        self.last: str | None = None

    def add(self, type_id: str, name: str | None = None, after: str | list[str] | None = "last",
            x: float = 0.0, **params) -> str:
        node = self.design.make_node(type_id, name=name, params=params, position=(x, self.y))
        self.design.add_node(node)
        self.y += STEP_Y
        sources = [self.last] if after == "last" else ([after] if isinstance(after, str) else after or [])
        for src in sources:
            if src is not None:
                self.design.add_edge(Edge(src, node.id))
        self.last = node.id
        return node.id

    def save(self, filename: str) -> None:
        save(self.design, OUT / filename)


def digits_cnn() -> None:
    b = Builder("Digits CNN", "A small convolutional network for scikit-learn's 8×8 digits.",
                "digits", {"as_images": True}, epochs=10, lr=3e-3, batch_size=64)
    b.add("Input", "image", after=None, shape=[1, 8, 8])
    b.add("Conv2d", "conv1", out_channels=16)
    b.add("BatchNorm2d", "bn1")
    b.add("ReLU", "relu1")
    b.add("MaxPool2d", "pool1")
    b.add("Conv2d", "conv2", out_channels=32)
    b.add("BatchNorm2d", "bn2")
    b.add("ReLU", "relu2")
    b.add("MaxPool2d", "pool2")
    b.add("Flatten", "flatten")
    b.add("Linear", "fc1", out_features=64)
    b.add("ReLU", "relu3")
    b.add("Dropout", "dropout", p=0.2)
    b.add("Linear", "fc2", out_features=10)
    b.add("Output", "logits")
    b.save("digits_cnn.json")


def digits_mlp() -> None:
    b = Builder("Digits MLP", "A multilayer perceptron on the 64 pixel values of each digit.",
                "digits", {"as_images": False}, epochs=20, lr=1e-3)
    b.add("Input", "pixels", after=None, shape=[64])
    b.add("Linear", "fc1", out_features=128)
    b.add("ReLU", "relu1")
    b.add("Linear", "fc2", out_features=64)
    b.add("ReLU", "relu2")
    b.add("Linear", "fc3", out_features=10)
    b.add("Output", "logits")
    b.save("digits_mlp.json")


def digits_lstm() -> None:
    b = Builder("Digits LSTM", "Reads each digit row by row: 8 steps of 8 pixels into an LSTM.",
                "digits", {"as_images": True}, epochs=20, lr=3e-3)
    b.add("Input", "image", after=None, shape=[1, 8, 8])
    b.add("Reshape", "rows", shape=[8, 8])
    b.add("LSTM", "lstm", hidden_size=64)
    b.add("Linear", "fc", out_features=10)
    b.add("Output", "logits")
    b.save("digits_lstm.json")


def iris_mlp() -> None:
    b = Builder("Iris MLP", "Classifies iris species from four flower measurements.", "iris",
                epochs=100, lr=1e-2, batch_size=16)
    b.add("Input", "measurements", after=None, shape=[4])
    b.add("Linear", "hidden", out_features=16)
    b.add("ReLU", "relu")
    b.add("Linear", "species", out_features=3)
    b.add("Output", "logits")
    b.save("iris_mlp.json")


def moons_mlp() -> None:
    b = Builder("Two Moons MLP", "Separates two interleaving half circles: watch the decision "
                "boundary bend.", "moons", {"n_samples": 1000, "noise": 0.15}, epochs=50, lr=1e-2,
                batch_size=32)
    b.add("Input", "point", after=None, shape=[2])
    b.add("Linear", "hidden1", out_features=16)
    b.add("Tanh", "tanh1")
    b.add("Linear", "hidden2", out_features=16)
    b.add("Tanh", "tanh2")
    b.add("Linear", "classes", out_features=2)
    b.add("Output", "logits")
    b.save("moons_mlp.json")


def residual_mlp() -> None:
    b = Builder("Residual MLP", "Two residual blocks: each adds its input back to its output.",
                "digits", {"as_images": False}, epochs=20, lr=1e-3)
    b.add("Input", "pixels", after=None, shape=[64])
    stem = b.add("Linear", "stem", out_features=64)
    trunk = b.add("ReLU", "stem_relu")
    for i in (1, 2):
        b.add("Linear", f"block{i}_fc1", x=180, out_features=64)
        b.add("ReLU", f"block{i}_relu", x=180)
        branch = b.add("Linear", f"block{i}_fc2", x=180, out_features=64)
        b.add("Add", f"block{i}_add", after=[trunk, branch])
        trunk = b.add("ReLU", f"block{i}_out")
    del stem
    b.add("Linear", "classifier", out_features=10)
    b.add("Output", "logits")
    b.save("residual_mlp.json")


def deep_resnet() -> None:
    b = Builder("Deep ResNet (digits)", "A 40-layer residual CNN: skip connections let gradients "
                "flow through depth. Compare its gradient health with a plain stack.", "digits",
                {"as_images": True}, epochs=10, lr=2e-3)
    b.add("Input", "image", after=None, shape=[1, 8, 8])
    b.add("Conv2d", "stem", out_channels=32)
    b.add("BatchNorm2d", "stem_bn")
    trunk = b.add("ReLU", "stem_relu")
    for i in range(1, 6):
        b.add("Conv2d", f"res{i}_conv1", x=200, out_channels=32)
        b.add("BatchNorm2d", f"res{i}_bn1", x=200)
        b.add("ReLU", f"res{i}_relu1", x=200)
        b.add("Conv2d", f"res{i}_conv2", x=200, out_channels=32)
        branch = b.add("BatchNorm2d", f"res{i}_bn2", x=200)
        b.add("Add", f"res{i}_add", after=[trunk, branch])
        trunk = b.add("ReLU", f"res{i}_out")
    b.add("GlobalAvgPool", "pool")
    b.add("Linear", "classifier", out_features=10)
    b.add("Output", "logits")
    b.save("deep_resnet.json")


if __name__ == "__main__":
    for make in (digits_cnn, digits_mlp, digits_lstm, iris_mlp, moons_mlp, residual_mlp, deep_resnet):
        make()
    print("wrote", ", ".join(sorted(p.name for p in OUT.glob("*.json"))))
