"""Pretrained weights: read them without unpickling, match them to a design, apply them.

* :func:`read_weights` — safetensors, or a ``.pt``/``.pth`` state dict through
  ``torch.load(weights_only=True)`` (never arbitrary unpickling).
* :func:`migrate_names` — tensors named as an earlier Netwright module layout named them
  (``lstm.rnn.weight_ih_l0``, ``downs_0.weight``) renamed as the model names them now, wherever
  weights load.
* :func:`match_weights` — pairs the model's tensors with the file's: by name first (a common
  ``module.``/``model.`` prefix is ignored), then, for names that differ, by shape in order.
  The :class:`Matching` lists matched, missing, unexpected and shape-mismatched tensors, so a
  person sees what will happen before anything is applied.
* :func:`initial_weights` — a design's own initial-weights file (``design.initial_weights``,
  relative to the design file), matched and ready to load; training, evaluation of a fresh
  design and exports start from it.
* :func:`apply_training_flags` — frozen layers (``node.trainable``) stop needing gradients;
  :func:`param_groups` splits the rest by learning-rate multiplier; :func:`set_train_mode`
  keeps frozen BatchNorm layers in evaluation mode.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Collection, Iterable, Mapping

import torch
from torch import nn

from graph.design import Design

from .compiler import Compiled, flat_spelling
from .modules import LEGACY_TENSOR_NAMES

WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")
PREFIXES = ("module.", "_orig_mod.", "model.")


class WeightsError(ValueError):
    """A weights file that cannot be read or does not fit."""


def read_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors of a safetensors file or a ``.pt``/``.pth`` state dict (weights only)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such file")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise WeightsError(f"{path}: not a readable safetensors file ({exc})") from None
    if path.suffix not in WEIGHT_SUFFIXES:
        raise WeightsError(f"{path}: weights are read from {', '.join(WEIGHT_SUFFIXES)} files")
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle refusals and broken archives raise many kinds
        raise WeightsError(_unreadable(path, exc)) from None
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)} \
        if isinstance(obj, dict) else {}
    if not tensors:
        raise WeightsError(f"{path}: holds no tensors by name (expected a state dict)")
    return tensors


ANSI_CODES = re.compile(r"\x1b\[[0-9;]*m")
PICKLED_MODULES = ("torch.nn.modules.",)


def _pickled_globals(path: Path, exc: Exception) -> list[str]:
    """The Python objects a refused ``.pt`` file would need unpickled, read from the file as
    data (never run), or from torch's refusal when this torch cannot list them."""
    lister = getattr(torch.serialization, "get_unsafe_globals_in_checkpoint", None)
    if lister is not None:
        try:
            return list(lister(str(path)))
        except Exception:  # a legacy or broken archive: fall back to torch's message
            pass
    return re.findall(r"GLOBAL ([\w.]+)", str(exc))


def _unreadable(path: Path, exc: Exception) -> str:
    """One clear sentence for a ``.pt`` file that ``torch.load(weights_only=True)`` refused."""
    found = _pickled_globals(path, exc)
    advice = ("Netwright does not unpickle it (that could run code); save "
              "model.state_dict() instead — torch.save(model.state_dict(), path) — or a "
              "safetensors file")
    if any(name.startswith(PICKLED_MODULES) for name in found):
        own = [n for n in found if not n.startswith("torch.")]
        named = f" ({', '.join(own[:3])})" if own else ""
        return f"{path.name} holds a whole pickled model{named}, saved with torch.save(model); {advice}"
    if found:
        return (f"{path.name} holds pickled Python objects ({', '.join(found[:3])}) besides "
                f"tensors; {advice}")
    text = ANSI_CODES.sub("", str(exc)).rpartition("WeightsUnpickler error:")[2]
    detail = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    return f"{path.name}: not a readable PyTorch state dict (broken or another format: {detail[:200]})"


@dataclass
class Matching:
    """How a file's tensors map onto a model's: ``matched`` pairs (model key, file key, how)."""

    matched: list[tuple[str, str, str]] = field(default_factory=list)  # how: "name" | "shape"
    missing: list[str] = field(default_factory=list)  # model tensors nothing fits: kept as is
    unexpected: list[str] = field(default_factory=list)  # file tensors left unused
    mismatched: list[tuple[str, tuple, tuple]] = field(default_factory=list)  # same name

    @property
    def ok(self) -> bool:
        return bool(self.matched)

    def rows(self, own: Mapping[str, torch.Tensor], theirs: Mapping[str, torch.Tensor]
             ) -> list[tuple[str, str, str, str]]:
        """``(status, model tensor, file tensor, shape)`` rows for a table."""
        shape = lambda t: "×".join(map(str, t.shape)) or "scalar"  # noqa: E731
        out = [(f"matched by {how}", mine, their, shape(own[mine])) for mine, their, how in self.matched]
        out += [("shape differs", name, name, f"{'×'.join(map(str, a))} ≠ {'×'.join(map(str, b))}")
                for name, a, b in self.mismatched]
        out += [("missing (kept)", name, "", shape(own[name])) for name in self.missing]
        out += [("unexpected (unused)", "", name, shape(theirs[name])) for name in self.unexpected]
        return out

    def describe(self) -> str:
        return (f"{len(self.matched)} matched ({sum(h == 'name' for *_, h in self.matched)} by "
                f"name), {len(self.missing)} missing, {len(self.unexpected)} unexpected, "
                f"{len(self.mismatched)} with another shape")


def _strip_prefix(names: list[str], own: set[str]) -> dict[str, str]:
    """File name → name as compared, without a prefix every file key shares but no own key."""
    for prefix in PREFIXES:
        if names and all(n.startswith(prefix) for n in names) and not any(
                o.startswith(prefix) for o in own):
            return {n: n[len(prefix):] for n in names}
    return {n: n for n in names}


def _natural(name: str) -> list:
    """``features.10.weight`` after ``features.9.weight``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _kind(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def current_names(keys: Iterable[str], own: Collection[str]) -> dict[str, str]:
    """Each of ``keys`` → itself, or, where ``own`` (a model's state dict) lacks it but holds
    the name today's module layout gives it (``LEGACY_TENSOR_NAMES``), or holds one tensor
    ``keys`` lack that reads the same with its module path as one identifier (``downs_0.weight``
    → ``downs.0.weight``: :func:`runtime.compiler.flat_spelling`), that name."""
    keys = list(keys)
    free = set(own).difference(keys)
    spelled: dict[str, list[str]] = {}
    for key in free:
        spelled.setdefault(flat_spelling(key), []).append(key)
    out = {}
    for key in keys:
        out[key] = key
        if key in own:
            continue
        renamed = [re.sub(pattern, to, key) for pattern, to in LEGACY_TENSOR_NAMES]
        renamed = [r for r in renamed if r != key and r in free]
        if not renamed and len(spelled.get(flat_spelling(key), ())) == 1:
            renamed = spelled[flat_spelling(key)]
        if renamed and renamed[0] in free:
            out[key] = renamed[0]
            free.remove(renamed[0])
    return out


def migrate_names(theirs: Mapping[str, torch.Tensor], own: Collection[str]
                  ) -> dict[str, torch.Tensor]:
    """``theirs`` keyed as the model ``own`` names its tensors today (see
    :func:`current_names`), in the same order."""
    names = current_names(theirs, own)
    return {names[key]: tensor for key, tensor in theirs.items()}


def match_weights(own: Mapping[str, torch.Tensor], theirs: Mapping[str, torch.Tensor]) -> Matching:
    """Pair ``own`` (the model's state dict) with ``theirs``: by name (a layer named after a
    tensor of theirs holds it: ``cls_token.token`` is their ``cls_token``; a name of an earlier
    layout is migrated first), then by shape in order among the names that differ (a weight
    only with a weight, a bias with a bias …). The matching names the file's own keys."""
    result = Matching()
    renamed = _strip_prefix(list(theirs), set(own))
    current = current_names(renamed.values(), own)
    by_name = {current[short]: full for full, short in renamed.items()}
    # safetensors files list their tensors alphabetically: "in order" means numbers as numbers.
    left_own, left_theirs = [], sorted(theirs, key=_natural)
    for key, tensor in own.items():
        their = by_name.get(key) or by_name.get(key.rpartition(".")[0])
        if their is None or their not in left_theirs:
            left_own.append(key)
        elif tuple(theirs[their].shape) == tuple(tensor.shape):
            result.matched.append((key, their, "name"))
            left_theirs.remove(their)
        else:
            result.mismatched.append((key, tuple(tensor.shape), tuple(theirs[their].shape)))
            left_theirs.remove(their)
    # in order: the first unused file tensor of the same kind (weight, bias, running_mean,
    # num_batches_tracked …) and shape, scalars included
    for key in left_own:
        shape = tuple(own[key].shape)
        their = next((t for t in left_theirs if tuple(theirs[t].shape) == shape
                      and _kind(t) == _kind(key)), None)
        if their is None:
            result.missing.append(key)
            continue
        result.matched.append((key, their, "shape"))
        left_theirs.remove(their)
    result.unexpected = left_theirs
    return result


def apply_matching(module: nn.Module, matching: Matching, theirs: Mapping[str, torch.Tensor]) -> int:
    """Copy every matched tensor into ``module``; returns how many were copied."""
    state = module.state_dict()
    with torch.no_grad():
        for mine, their, _ in matching.matched:
            state[mine].copy_(theirs[their].to(state[mine].dtype))
    return len(matching.matched)


def weights_path(design: Design, base_dir: str | os.PathLike | None) -> Path | None:
    """The design's initial-weights file (relative paths from ``base_dir``), or None."""
    if not design.initial_weights:
        return None
    path = Path(design.initial_weights)
    return path if path.is_absolute() or base_dir is None else Path(base_dir) / path


def load_initial_weights(compiled: Compiled, design: Design,
                         base_dir: str | os.PathLike | None) -> Matching | None:
    """Load the design's initial weights into ``compiled.module`` (matched as above); None when
    the design names none. Raises WeightsError when the file is unreadable or nothing fits."""
    path = weights_path(design, base_dir)
    if path is None:
        return None
    theirs = read_weights(path)
    matching = match_weights(compiled.module.state_dict(), theirs)
    if not matching.ok:
        raise WeightsError(f"{path}: no tensor fits the design ({matching.describe()})")
    apply_matching(compiled.module, matching, theirs)
    return matching


# ---- freezing and per-layer learning rates ----------------------------------------------------


def apply_training_flags(compiled: Compiled, design: Design) -> list[nn.Module]:
    """Stop gradients of frozen nodes; returns their BatchNorm modules (to keep in eval mode)."""
    frozen_norms = []
    for nid, module in compiled.modules_by_node().items():
        if not design.node(nid).trainable:
            module.requires_grad_(False)
            frozen_norms += [m for m in module.modules()
                             if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    return frozen_norms


def param_groups(compiled: Compiled, design: Design, lr: float) -> list[dict]:
    """Trainable parameters grouped by their node's learning-rate multiplier."""
    groups: dict[float, list[nn.Parameter]] = {}
    owned = set()
    for nid, module in compiled.modules_by_node().items():
        mult = design.node(nid).lr_mult
        for p in module.parameters():
            owned.add(id(p))
            if p.requires_grad:
                groups.setdefault(mult, []).append(p)
    rest = [p for p in compiled.module.parameters() if id(p) not in owned and p.requires_grad]
    if rest:
        groups.setdefault(1.0, []).extend(rest)
    return [{"params": ps, "lr": lr * mult} for mult, ps in groups.items() if ps and mult > 0]


def set_train_mode(model: nn.Module, frozen_norms: list[nn.Module]) -> None:
    """``model.train()`` with frozen BatchNorm layers left in evaluation mode."""
    model.train()
    for module in frozen_norms:
        module.eval()


# ---- Load Weights… ------------------------------------------------------------------------------


@dataclass
class WeightsPreview:
    """What loading a file into a design would do, before anything is applied."""

    compiled: Compiled
    matching: Matching
    theirs: dict[str, torch.Tensor]
    source: Path

    def rows(self) -> list[tuple[str, str, str, str]]:
        return self.matching.rows(self.compiled.module.state_dict(), self.theirs)


def preview_weights(design: Design, base_dir: str | os.PathLike | None,
                    source: str | os.PathLike) -> WeightsPreview:
    """Match ``source`` against the design's model (which starts from its current initial
    weights, or a seeded fresh init); raises WeightsError (or CompileError)."""
    from .compiler import compile_design

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(design.training.get("seed", 0)))
        compiled = compile_design(design)
    load_initial_weights(compiled, design, base_dir)
    theirs = read_weights(source)
    return WeightsPreview(compiled, match_weights(compiled.module.state_dict(), theirs), theirs,
                          Path(source))


def adopt_weights(preview: WeightsPreview, design: Design, design_path: str | os.PathLike) -> Path:
    """Apply a preview: write the resulting weights to a new file beside the design
    (``<stem>.safetensors``, or ``<stem>-2.safetensors``… when that exists: the file the
    design started from so far stays as it was, for undo and for the saved design) and name
    it as the design's initial weights. Returns the file written."""
    from safetensors.torch import save_file

    from graph.atomic import atomic_path

    if not preview.matching.ok:
        raise WeightsError(f"{preview.source}: no tensor fits the design")
    apply_matching(preview.compiled.module, preview.matching, preview.theirs)
    out = unused_path(Path(design_path).with_suffix(".safetensors"))
    state = {k: v.detach().cpu().contiguous() for k, v in preview.compiled.module.state_dict().items()}
    with atomic_path(out) as temp:  # a new file's usual permissions, whole or not at all
        save_file(state, str(temp), metadata={"producer": "netwright",
                                              "from": preview.source.name[:200]})
    design.set_initial_weights(out.name)
    return out


def unused_path(path: Path) -> Path:
    """``path``, or ``<stem>-2<suffix>``, ``-3``… beside it: the first that does not exist."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate
