"""Every catalog rule against the real torch module it declares.

For each layer type, hypothesis draws valid params and input shapes; the module built by
``runtime.compiler.build_layer`` must then produce exactly the shape the rule predicts, hold
exactly the trainable parameters ``count_params`` counts, and spend in convolutions and matrix
products exactly the ``matmul_macs`` the rule declares (as ``torch.utils.flop_counter`` counts). Adding a layer type to the catalog
without a strategy below fails :func:`test_every_type_has_a_strategy`.
"""
from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

import graph.layers  # noqa: F401  (fills the catalog)
from graph.catalog import CATALOG, ShapeError, pair, prod
from runtime.compiler import build_layer

EXAMPLES_PER_TYPE = 30

Case = tuple[dict, list[tuple[int, ...]]]


def shapes(min_rank: int, max_rank: int, lo: int = 1, hi: int = 5) -> st.SearchStrategy:
    return st.integers(min_rank, max_rank).flatmap(
        lambda r: st.tuples(*[st.integers(lo, hi)] * r))


@st.composite
def size(draw, n: int, lo: int, hi: int):
    """A ``size`` param as users write it: one int, or a list of ``n`` ints."""
    if draw(st.booleans()):
        return draw(st.integers(lo, hi))
    return draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n))


def floats(lo: float, hi: float) -> st.SearchStrategy:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def one(params: dict, shape) -> Case:
    return params, [tuple(shape)]


# ---- strategies, one per layer type -------------------------------------------------------------


@st.composite
def input_case(draw) -> Case:
    return {"shape": list(draw(shapes(1, 4))),
            "dtype": draw(st.sampled_from(["float32", "int64"]))}, []


@st.composite
def linear(draw) -> Case:
    return one({"out_features": draw(st.integers(1, 12)), "bias": draw(st.booleans())},
               draw(shapes(1, 2, hi=8)))


@st.composite
def conv(draw, n: int, transposed: bool = False) -> Case:
    groups = draw(st.integers(1, 3))
    in_ch, out_ch = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    k, s = draw(size(n, 1, 4)), draw(size(n, 1, 3))
    pad, d = draw(size(n, 0, 2)), draw(size(n, 1, 2))
    params = {"out_channels": out_ch, "kernel_size": k, "stride": s, "padding": pad,
              "dilation": d, "groups": groups, "bias": draw(st.booleans())}
    kk, ss, pp, dd = (pair(v, n) for v in (k, s, pad, d))
    spatial = []
    if not transposed:
        params["padding_mode"] = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
        style = draw(st.sampled_from(["even", "sides", "same"]))
        if style == "sides":
            params["padding_sides"] = draw(st.lists(st.integers(0, 2), min_size=2 * n,
                                                    max_size=2 * n))
        params["same_padding"] = style == "same"
    if transposed:
        limits = [max(ss[i], dd[i]) - 1 for i in range(n)]
        if draw(st.booleans()):
            params["output_padding"] = draw(st.integers(0, min(limits)))
        else:
            params["output_padding"] = [draw(st.integers(0, lim)) for lim in limits]
        op = pair(params["output_padding"], n)
        for i in range(n):  # (H - 1)·s − 2p + d(k − 1) + op + 1 ≥ 1
            short = max(0, 2 * pp[i] - dd[i] * (kk[i] - 1) - op[i])
            least = 1 + -(-short // ss[i])
            spatial.append(draw(st.integers(least, least + 4)))
    else:
        for i in range(n):
            least = max(1, dd[i] * (kk[i] - 1) + 1 - (2 * pp[i] if style == "even" else 0))
            spatial.append(draw(st.integers(least, least + 5)))
    return one(params, (in_ch, *spatial))


@st.composite
def pool(draw, n: int, avg: bool = False) -> Case:
    k = draw(size(n, 1, 4))
    kk = pair(k, n)
    if draw(st.booleans()):
        pad = draw(st.integers(0, min(kk) // 2))
    else:
        pad = [draw(st.integers(0, kk[i] // 2)) for i in range(n)]
    pp = pair(pad, n)
    params = {"kernel_size": k, "stride": draw(size(n, 1, 3)), "padding": pad,
              "ceil_mode": draw(st.booleans())}
    if avg:
        params["count_include_pad"] = draw(st.booleans())
    spatial = [draw(st.integers(max(1, kk[i] - 2 * pp[i]), kk[i] + 5)) for i in range(n)]
    return one(params, (draw(st.integers(1, 4)), *spatial))


@st.composite
def adaptive_pool(draw, n: int = 2) -> Case:
    return one({"output_size": draw(size(n, 1, 5))}, draw(shapes(n + 1, n + 1, hi=7)))


@st.composite
def global_pool(draw) -> Case:
    return one({}, draw(shapes(2, 4)))


@st.composite
def batchnorm(draw, ranks: tuple[int, int]) -> Case:
    return one({"eps": draw(floats(1e-8, 0.1)), "momentum": draw(floats(0.0, 1.0)),
                "affine": draw(st.booleans())}, draw(shapes(*ranks)))


@st.composite
def layernorm(draw) -> Case:
    shape = draw(shapes(1, 4))
    return one({"normalized_dims": draw(st.integers(1, len(shape))), "eps": draw(floats(1e-8, 0.1)),
                "elementwise_affine": draw(st.booleans())}, shape)


@st.composite
def groupnorm(draw) -> Case:
    groups = draw(st.integers(1, 4))
    rest = draw(shapes(0, 3))
    return one({"num_groups": groups, "eps": draw(floats(1e-8, 0.1)), "affine": draw(st.booleans())},
               (groups * draw(st.integers(1, 3)), *rest))


@st.composite
def local_response_norm(draw) -> Case:
    params = {"size": draw(st.integers(1, 6)), "alpha": draw(floats(0.0, 1.0)),
              "beta": draw(floats(0.0, 2.0)), "k": draw(floats(0.5, 3.0))}
    return one(params, draw(shapes(2, 4)))


@st.composite
def dropout(draw, ranks: tuple[int, int]) -> Case:
    return one({"p": draw(floats(0.0, 0.99))}, draw(shapes(*ranks)))


@st.composite
def activation(draw, params: dict | None = None) -> Case:
    drawn = {key: draw(value) for key, value in (params or {}).items()}
    return one(drawn, draw(shapes(0, 4)))


@st.composite
def softmax(draw) -> Case:
    shape = draw(shapes(1, 4))
    return one({"dim": draw(st.integers(-len(shape), len(shape) - 1))}, shape)


@st.composite
def flatten(draw) -> Case:
    shape = draw(shapes(1, 4))
    rank = len(shape)
    start = draw(st.integers(0, rank - 1))
    end = draw(st.integers(start, rank - 1))
    # Either end of the range may be written counting from the end.
    if draw(st.booleans()):
        start -= rank
    if draw(st.booleans()):
        end -= rank
    return one({"start_dim": start, "end_dim": end}, shape)


@st.composite
def reshape(draw) -> Case:
    shape = draw(shapes(1, 4))
    total = prod(shape)
    factors = []
    rest = total
    while rest > 1 and len(factors) < 4:
        f = draw(st.sampled_from([d for d in range(1, rest + 1) if rest % d == 0]))
        factors.append(f)
        rest //= f
    factors.append(rest)
    factors = draw(st.permutations(factors))
    if draw(st.booleans()):
        factors[draw(st.integers(0, len(factors) - 1))] = -1
    return one({"shape": list(factors)}, shape)


@st.composite
def permute(draw) -> Case:
    shape = draw(shapes(1, 4))
    return one({"dims": list(draw(st.permutations(range(len(shape)))))}, shape)


@st.composite
def upsample(draw) -> Case:
    mode = draw(st.sampled_from(["nearest", "bilinear"]))
    shape = draw(shapes(3, 3) if mode == "bilinear" else shapes(2, 3))
    return one({"scale_factor": draw(st.integers(1, 3)), "mode": mode,
                "align_corners": draw(st.booleans())}, shape)


@st.composite
def l2_normalize(draw) -> Case:
    shape = draw(shapes(1, 4))
    return one({"dim": draw(st.integers(-len(shape), len(shape) - 1)),
                "eps": draw(st.sampled_from([1e-12, 1e-6, 0.5]))}, shape)


@st.composite
def elementwise(draw) -> Case:
    base = draw(shapes(1, 3))
    count = draw(st.integers(2, 4))
    # Size-1 axes broadcast against the others, as in torch.
    ins = [tuple(d if draw(st.booleans()) else 1 for d in base) for _ in range(count)]
    return {}, ins


@st.composite
def concat(draw) -> Case:
    base = draw(shapes(1, 3))
    rank = len(base)
    dim = draw(st.integers(-rank, rank - 1))
    axis = dim % rank
    ins = [base[:axis] + (draw(st.integers(1, 4)),) + base[axis + 1:]
           for _ in range(draw(st.integers(2, 4)))]
    return {"dim": dim}, ins


@st.composite
def embedding(draw) -> Case:
    vocab = draw(st.integers(1, 20))
    return one({"num_embeddings": vocab, "embedding_dim": draw(st.integers(1, 8)),
                "padding_idx": draw(st.integers(-1, vocab - 1))}, draw(shapes(1, 1, hi=6)))


@st.composite
def recurrent(draw, cell: str) -> Case:
    params = {"hidden_size": draw(st.integers(1, 6)), "num_layers": draw(st.integers(1, 3)),
              "bidirectional": draw(st.booleans()), "dropout": draw(floats(0.0, 0.5)),
              "return_sequence": draw(st.booleans())}
    if cell == "RNN":
        params["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    return one(params, draw(shapes(2, 2, hi=6)))


@st.composite
def attention(draw) -> Case:
    heads = draw(st.integers(1, 4))
    return one({"num_heads": heads, "dropout": draw(floats(0.0, 0.5)), "bias": draw(st.booleans())},
               (draw(st.integers(1, 5)), heads * draw(st.integers(1, 4))))


@st.composite
def transformer_params(draw, heads: int, stack: bool = False) -> dict:
    params = {"num_heads": heads, "dim_feedforward": draw(st.integers(1, 16)),
              "dropout": draw(floats(0.0, 0.5)),
              "activation": draw(st.sampled_from(["relu", "gelu"])),
              "norm_first": draw(st.booleans()), "layer_norm_eps": draw(floats(1e-8, 0.1)),
              "bias": draw(st.booleans())}
    if stack:
        params["num_layers"] = draw(st.integers(1, 3))
    return params


@st.composite
def encoder(draw, stack: bool = False) -> Case:
    heads = draw(st.integers(1, 4))
    return one(draw(transformer_params(heads, stack)),
               (draw(st.integers(1, 5)), heads * draw(st.integers(1, 3))))


@st.composite
def decoder(draw) -> Case:
    heads = draw(st.integers(1, 4))
    width = heads * draw(st.integers(1, 3))
    return draw(transformer_params(heads)), [(draw(st.integers(1, 5)), width),
                                             (draw(st.integers(1, 5)), width)]


@st.composite
def cross_attention(draw) -> Case:
    heads = draw(st.integers(1, 4))
    params = {"num_heads": heads, "dropout": draw(floats(0.0, 0.5)), "bias": draw(st.booleans())}
    return params, [(draw(st.integers(1, 5)), heads * draw(st.integers(1, 4))),
                    (draw(st.integers(1, 5)), draw(st.integers(1, 6)))]


@st.composite
def pad(draw) -> Case:
    mode = draw(st.sampled_from(["constant", "reflect", "replicate", "circular"]))
    axes = draw(st.integers(1, 3))
    shape = draw(shapes(axes, axes + 1 if mode != "constant" else 4, hi=6))
    return one({"padding": draw(st.lists(st.integers(0, 3), min_size=2 * axes,
                                         max_size=2 * axes)),
                "mode": mode, "value": draw(floats(-2.0, 2.0))}, shape)


@st.composite
def slice_case(draw) -> Case:
    shape = draw(shapes(1, 4, hi=7))
    return one({"dim": draw(st.integers(-len(shape), len(shape) - 1)),
                "start": draw(st.integers(-8, 8)), "stop": draw(st.integers(-8, 8)),
                "step": draw(st.integers(1, 3))}, shape)


@st.composite
def two_broadcast(draw) -> Case:
    return {}, draw(elementwise())[1][:2]


@st.composite
def matmul(draw) -> Case:
    lead = draw(shapes(0, 1))
    n, k, m = (draw(st.integers(1, 5)) for _ in range(3))
    return {}, [lead + (n, k), lead + (k, m)]


@st.composite
def reduce_case(draw) -> Case:
    shape = draw(shapes(1, 4))
    dims = draw(st.lists(st.integers(0, len(shape) - 1), min_size=1, max_size=len(shape),
                         unique=True))
    dims = [d - len(shape) if draw(st.booleans()) else d for d in dims]
    return one({"dims": dims, "keepdim": draw(st.booleans())}, shape)


@st.composite
def parameter(draw) -> Case:
    return one({"shape": list(draw(shapes(1, 3))),
                "init": draw(st.sampled_from(["normal", "zeros", "ones"]))}, draw(shapes(0, 3)))


@st.composite
def sequence(draw, params: dict | None = None) -> Case:
    drawn = {key: draw(value) for key, value in (params or {}).items()}
    return one(drawn, draw(shapes(2, 2, hi=6)))


@st.composite
def layer_scale(draw) -> Case:
    return one({"init_value": draw(floats(0.0, 1.0)), "channels_first": draw(st.booleans())},
               draw(shapes(1, 4)))


@st.composite
def prelu(draw) -> Case:
    return one({"per_channel": draw(st.booleans()), "init": draw(floats(-1.0, 1.0))},
               draw(shapes(1, 4)))


@st.composite
def hardtanh(draw) -> Case:
    low = draw(floats(-5.0, 4.0))
    return one({"min_val": low, "max_val": low + draw(floats(0.01, 5.0))}, draw(shapes(0, 4)))


STRATEGIES: dict[str, st.SearchStrategy] = {
    "Input": input_case(),
    "Output": shapes(0, 4).map(lambda s: one({}, s)),
    "Linear": linear(),
    "Identity": activation(),
    "Conv1d": conv(1),
    "Conv2d": conv(2),
    "ConvTranspose2d": conv(2, transposed=True),
    "MaxPool1d": pool(1),
    "MaxPool2d": pool(2),
    "AvgPool2d": pool(2, avg=True),
    "AdaptiveAvgPool2d": adaptive_pool(),
    "GlobalAvgPool": global_pool(),
    "BatchNorm1d": batchnorm((1, 2)),
    "BatchNorm2d": batchnorm((3, 3)),
    "LayerNorm": layernorm(),
    "GroupNorm": groupnorm(),
    "LocalResponseNorm": local_response_norm(),
    "Dropout": dropout((0, 4)),
    "Dropout2d": dropout((3, 3)),
    "ReLU": activation(),
    "LeakyReLU": activation({"negative_slope": floats(0.0, 1.0)}),
    "ELU": activation({"alpha": floats(0.0, 10.0)}),
    "GELU": activation({"approximate": st.sampled_from(["none", "tanh"])}),
    "SiLU": activation(),
    "Sigmoid": activation(),
    "Tanh": activation(),
    "Softmax": softmax(),
    "LogSoftmax": softmax(),
    "Flatten": flatten(),
    "Reshape": reshape(),
    "Permute": permute(),
    "Upsample": upsample(),
    "L2Normalize": l2_normalize(),
    "Add": elementwise(),
    "Multiply": elementwise(),
    "Concat": concat(),
    "Embedding": embedding(),
    "RNN": recurrent("RNN"),
    "LSTM": recurrent("LSTM"),
    "GRU": recurrent("GRU"),
    "MultiheadSelfAttention": attention(),
    "TransformerEncoderLayer": encoder(),
    "TransformerEncoder": encoder(stack=True),
    "TransformerDecoderLayer": decoder(),
    "MultiheadAttention": cross_attention(),
    "ClassToken": sequence(),
    "PositionEmbedding": sequence({"std": floats(0.0, 1.0)}),
    "Conv3d": conv(3),
    "MaxPool3d": pool(3),
    "AvgPool3d": pool(3, avg=True),
    "AvgPool1d": pool(1, avg=True),
    "AdaptiveAvgPool1d": adaptive_pool(1),
    "AdaptiveMaxPool1d": adaptive_pool(1),
    "AdaptiveMaxPool2d": adaptive_pool(2),
    "BatchNorm3d": batchnorm((4, 4)),
    "LayerNorm2d": st.builds(lambda eps, aff, s: one({"eps": eps, "elementwise_affine": aff}, s),
                             floats(1e-8, 0.1), st.booleans(), shapes(2, 4)),
    "DropPath": st.builds(lambda p, mode, s: one({"p": p, "mode": mode}, s), floats(0.0, 0.99),
                          st.sampled_from(["row", "batch"]), shapes(0, 4)),
    "ReLU6": activation(),
    "Hardtanh": hardtanh(),
    "Hardswish": activation(),
    "Hardsigmoid": activation(),
    "Mish": activation(),
    "Softplus": activation({"beta": floats(0.01, 10.0), "threshold": floats(0.0, 30.0)}),
    "Softsign": activation(),
    "Abs": activation(),
    "PReLU": prelu(),
    "Pad": pad(),
    "Slice": slice_case(),
    "Subtract": two_broadcast(),
    "MatMul": matmul(),
    "Scale": activation({"factor": floats(-3.0, 3.0), "offset": floats(-3.0, 3.0)}),
    "Mean": reduce_case(),
    "Sum": reduce_case(),
    "Max": reduce_case(),
    "Parameter": parameter(),
    "LayerScale": layer_scale(),
    "Split": slice_case().map(lambda c: ({"dim": c[0]["dim"], "size": c[0]["start"]}, c[1])),
    "Chunk": slice_case().map(lambda c: ({"dim": c[0]["dim"]}, c[1])),
}

TYPE_IDS = [layer.type_id for layer in CATALOG if not layer.is_placeholder]


def test_every_type_has_a_strategy():
    missing = sorted(set(TYPE_IDS) - set(STRATEGIES))
    assert not missing, f"add a hypothesis strategy to STRATEGIES for: {', '.join(missing)}"
    assert not set(STRATEGIES) - set(TYPE_IDS), "strategies for types the catalog lacks"


# torch.utils.flop_counter sees LSTM's fused kernel as one opaque op.
FLOP_COUNTER_BLIND = {"LSTM"}


def _counted_macs(module: torch.nn.Module, xs: list[torch.Tensor]) -> int:
    """Multiply-accumulates of convolutions and matrix products, as torch counts them (the
    attention kernel is made to run as plain matmuls so they are seen)."""
    module.train(True)
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        module(*xs)
    return counter.get_total_flops() // 2


def _tensor(type_id: str, batch: int, shape: tuple[int, ...], params: dict) -> torch.Tensor:
    if type_id == "Embedding":
        return torch.randint(0, params["num_embeddings"], (batch, *shape))
    return torch.randn(batch, *shape)


@pytest.mark.parametrize("type_id", TYPE_IDS)
def test_rules_match_torch(type_id):
    """Shape, parameter count and MAC rules agree with the module torch builds."""
    assert type_id in STRATEGIES, f"no hypothesis strategy for {type_id}"
    layer = CATALOG[type_id]

    @settings(max_examples=EXAMPLES_PER_TYPE, deadline=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(case=STRATEGIES[type_id], batch=st.integers(2, 3))
    def check(case: Case, batch: int) -> None:
        raw, ins = case
        assert layer.check_params(raw) == [], "the strategy drew invalid params"
        params = layer.resolve(raw)
        try:
            outs = layer.shape(params, ins)
        except ShapeError:
            reject()
        several = len(layer.outputs) > 1  # one shape per output port
        outs = [tuple(o) for o in outs] if several else [tuple(outs)]
        out = tuple(outs) if several else outs[0]
        count = layer.count_params(params, ins)
        macs = layer.macs(params, ins, out)
        assert isinstance(count, int) and count >= 0
        assert isinstance(macs, int) and macs >= 0
        assert all(isinstance(d, int) and d >= 1 for o in outs for d in o), outs
        if layer.is_source:  # Input: its declared shape, nothing to build
            assert out == tuple(raw["shape"]) and count == 0
            return
        if layer.is_sink:  # Output: passes its tensor on
            assert out == ins[0] and count == 0
            return
        torch.manual_seed(0)
        module = build_layer(layer, params, list(ins))
        xs = [_tensor(type_id, batch, s, params) for s in ins]
        for training in (True, False):
            module.train(training)
            with torch.no_grad():
                y = module(*xs)
            ys = list(y) if several else [y]
            got = [tuple(t.shape)[1:] for t in ys]
            assert len(ys) == len(outs) and all(t.shape[0] == batch for t in ys) and got == outs, (
                f"{type_id}{raw} on {ins}: rule says {outs}, torch gives {got}")
        trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
        assert trainable == count, f"{type_id}{raw} on {ins}: rule counts {count}, torch has {trainable}"
        matmul = layer.matmul_macs(params, ins, out)
        assert isinstance(matmul, int) and 0 <= matmul <= macs
        if type_id not in FLOP_COUNTER_BLIND:
            assert _counted_macs(module, xs) == batch * matmul, (
                f"{type_id}{raw} on {ins}: rule counts {matmul} matmul MACs per sample")

    check()


# ---- where a rule refuses, torch would fail (or silently mix samples) too ---------------------------

REFUSED = [
    ("Conv2d", {"kernel_size": 5, "padding": 0}, [(1, 3, 3)]),
    ("Conv2d", {"groups": 2, "out_channels": 4}, [(3, 8, 8)]),
    ("MaxPool2d", {"kernel_size": 3, "padding": 2}, [(1, 8, 8)]),
    ("MaxPool2d", {"kernel_size": 4}, [(1, 2, 2)]),
    ("ConvTranspose2d", {"stride": 2, "output_padding": 2}, [(1, 4, 4)]),
    ("GroupNorm", {"num_groups": 3}, [(4, 5)]),
    ("MultiheadSelfAttention", {"num_heads": 3}, [(5, 8)]),
    ("Concat", {"dim": 0}, [(2, 3), (2, 4)]),
    ("Add", {}, [(3, 4), (3, 5)]),
    ("Reshape", {"shape": [5, -1]}, [(2, 3)]),
    ("Permute", {"dims": [0, 0]}, [(2, 3)]),
    ("Flatten", {}, [()]),
    ("Softmax", {"dim": 2}, [(2, 3)]),
    ("Upsample", {"mode": "bilinear"}, [(2, 5)]),
    ("L2Normalize", {"dim": 1}, [(6,)]),
    ("Conv2d", {"padding_mode": "reflect", "padding": 2}, [(1, 2, 2)]),
    ("Conv2d", {"padding_sides": [1, 1, 1]}, [(1, 4, 4)]),
    ("AvgPool3d", {"kernel_size": 2, "padding": 1}, [(1, 2, 1, 2)]),
    ("Pad", {"padding": [2, 2], "mode": "reflect"}, [(1, 2)]),
    ("Pad", {"padding": [1, 1, 1, 1], "mode": "replicate"}, [(5,)]),
    ("Pad", {"padding": [1, 1], "mode": "replicate"}, [(2, 4, 5)]),
    ("Slice", {"start": 3, "stop": 2}, [(4, 5)]),
    ("MatMul", {}, [(2, 3), (4, 5)]),
    ("Subtract", {}, [(3, 4), (3, 5)]),
    ("Mean", {"dims": [2]}, [(3, 4)]),
    ("Hardtanh", {"min_val": 1.0, "max_val": 0.5}, [(3,)]),
    ("TransformerDecoderLayer", {"num_heads": 2}, [(3, 8), (5, 6)]),
    ("MultiheadAttention", {"num_heads": 3}, [(5, 8), (5, 8)]),
]


@pytest.mark.parametrize("type_id, raw, ins", REFUSED, ids=[f"{t}-{i}" for i, (t, *_) in enumerate(REFUSED)])
def test_refusals_are_real(type_id, raw, ins):
    layer = CATALOG[type_id]
    params = layer.resolve(raw)
    with pytest.raises(ShapeError):
        layer.shape(params, ins)
    with pytest.raises(Exception):
        module = build_layer(layer, params, ins)
        module(*(torch.randn(2, *s) for s in ins))


def test_elementwise_merges_refuse_mixed_ranks():
    """torch broadcasts with the batch included, so (N, 3, 4) + (N, 4) would mix samples."""
    for type_id in ("Add", "Multiply"):
        with pytest.raises(ShapeError, match="rank"):
            CATALOG[type_id].shape({}, [(3, 4), (4,)])
