"""Saving and safely loading registration networks.

Two kinds of files are accepted, and nothing else:

- RegViewer model files (``.pt``): a dict ``{"format": "regviewer-velocity-unet", "version": 1,
  "model": {...architecture...}, "shape": [...], "state_dict": {...}, "training": {...}}`` written
  by ``save_model`` (or ``regviewer train``). A bare state dict is accepted too when a JSON file of
  the same name (``model.json``) gives ``model`` and ``shape``.
- TorchScript files (``torch.jit.save``): a module whose ``forward(moving, fixed)`` returns the
  displacement ``[B, ndim, *S]`` in voxels (array-axis order), with its ``model`` / ``shape``
  metadata in the extra file ``regviewer.json`` or in a JSON sidecar.

Plain files are read with ``torch.load(weights_only=True)``, which only rebuilds tensors and
containers of plain values: a pickle that would import or call anything is refused with a clear
message instead of being executed. TorchScript archives are loaded by ``torch.jit.load``, which
deserialises TorchScript code, never arbitrary Python.
"""

from __future__ import annotations

import json
import os
import pickle
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from regviewer.core.errors import RegViewerError
from regviewer.registration.torch_backend.unet import UNetConfig, VelocityUNet

FORMAT = "regviewer-velocity-unet"
VERSION = 1
METADATA_NAME = "regviewer.json"


class UnsafeModelError(RegViewerError):
    """A model file that could run code when loaded (or is not a model at all) was refused."""


@dataclass
class LoadedModel:
    """A network ready for inference and what it expects.

    Attributes:
        module: the network; ``module(moving, fixed)`` -> displacement in voxels of the input grid.
        ndim: 2 or 3.
        shape: the model shape (numpy order) the network was trained on.
        source: the file it came from.
        kind: "state dict" or "TorchScript".
        metadata: everything else the file says (training settings, notes).
    """

    module: nn.Module
    ndim: int
    shape: tuple[int, ...]
    source: str
    kind: str
    metadata: dict[str, Any] = field(default_factory=dict)


def model_payload(
    model: VelocityUNet, shape: tuple[int, ...], training: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The dict ``save_model`` writes (tensors and plain values only, so ``weights_only`` can read it)."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "model": model.config.to_dict(),
        "shape": [int(n) for n in shape],
        "state_dict": {name: tensor.detach().cpu().clone() for name, tensor in model.state_dict().items()},
        "training": dict(training or {}),
    }


def save_atomically(payload: Any, path: Path) -> None:
    """``torch.save`` to a temporary file then rename, so that an interrupted save never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".partial")
    torch.save(payload, temporary)
    os.replace(temporary, path)


def save_model(
    model: VelocityUNet, shape: tuple[int, ...], path: Path, training: Mapping[str, Any] | None = None
) -> None:
    """Write a self-describing model file (architecture, model shape, weights, training summary)."""
    save_atomically(model_payload(model, shape, training), Path(path))


def safe_torch_load(path: Path) -> Any:
    """``torch.load(path, weights_only=True)`` on CPU; a refusal becomes an ``UnsafeModelError``."""
    with open(path, "rb") as handle:
        start = handle.read(4)
    if not (start.startswith(b"PK") or start.startswith(b"\x80")):  # neither a zip (torch >= 1.6) nor a pickle
        raise UnsafeModelError(f"{path.name}: not a PyTorch model file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Detected pickle protocol ..." notices
            return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        found = [line.strip() for line in str(error).splitlines() if "Unsupported" in line or "global" in line.lower()]
        reason = f" ({found[0][:160]})" if found else ""
        raise UnsafeModelError(
            f"{path.name}: refused to load: the file holds Python objects that could run code when unpickled{reason}; "
            "RegViewer loads only state dicts of tensors and TorchScript files"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError) as error:
        raise UnsafeModelError(
            f"{path.name}: not a PyTorch model file ({str(error).strip().splitlines()[0][:160] if str(error).strip() else type(error).__name__})"
        ) from None


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    return any(name.endswith("/constants.pkl") or "/code/" in name for name in names)


def _sidecar(path: Path) -> dict[str, Any]:
    candidate = path.with_suffix(".json")
    if not candidate.is_file():
        return {}
    try:
        return json.loads(candidate.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise RegViewerError(f"{candidate.name}: cannot read the model description: {error}") from None


def _shape_from(metadata: Mapping[str, Any], path: Path) -> tuple[int, ...]:
    shape = metadata.get("shape")
    if (
        not isinstance(shape, (list, tuple))
        or len(shape) not in (2, 3)
        or not all(isinstance(n, int) and n > 1 for n in shape)
    ):
        raise RegViewerError(
            f"{path.name}: the model description has no valid 'shape' (2 or 3 sizes, numpy order), got {shape!r}"
        )
    return tuple(int(n) for n in shape)


def _build(architecture: Mapping[str, Any], state_dict: Mapping[str, Any], path: Path) -> VelocityUNet:
    if not isinstance(architecture, Mapping):
        raise RegViewerError(f"{path.name}: the model description has no 'model' section")
    model = VelocityUNet(UNetConfig.from_dict(architecture))
    try:
        model.load_state_dict(dict(state_dict))
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise RegViewerError(f"{path.name}: the weights do not fit the described network ({first[:200]})") from None
    return model.eval()


def load_model(path: str | os.PathLike[str]) -> LoadedModel:
    """Load a RegViewer model file, a state dict with a JSON sidecar, or a TorchScript file, on CPU.

    Raises:
        RegViewerError: missing file, unknown layout, or weights that do not fit the description.
        UnsafeModelError: the file would run code when loaded, or is not a torch file.
    """
    path = Path(path)
    if not path.is_file():
        raise RegViewerError(f"model file not found: {path}")
    if _is_torchscript(path):
        extra = {METADATA_NAME: ""}
        try:
            module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
        except RuntimeError as error:
            raise RegViewerError(
                f"{path.name}: not a loadable TorchScript file ({str(error).strip().splitlines()[0][:160]})"
            ) from None
        metadata = json.loads(extra[METADATA_NAME]) if extra[METADATA_NAME] else _sidecar(path)
        if not metadata:
            raise RegViewerError(
                f"{path.name}: a TorchScript model needs its 'shape' (and 'ndim'): save it with "
                f"_extra_files={{'{METADATA_NAME}': ...}} or put {path.with_suffix('.json').name} beside it"
            )
        shape = _shape_from(metadata, path)
        return LoadedModel(module.eval(), len(shape), shape, str(path), "TorchScript", dict(metadata))
    content = safe_torch_load(path)
    if isinstance(content, Mapping) and content.get("format") == FORMAT:
        metadata = {key: value for key, value in content.items() if key != "state_dict"}
        state_dict = content.get("state_dict")
    elif (
        isinstance(content, Mapping) and content and all(isinstance(value, torch.Tensor) for value in content.values())
    ):
        metadata, state_dict = _sidecar(path), content
        if not metadata:
            raise RegViewerError(
                f"{path.name}: a bare state dict needs {path.with_suffix('.json').name} beside it with 'model' and 'shape'"
            )
    else:
        raise RegViewerError(
            f"{path.name}: not a RegViewer model (expected a model file from 'regviewer train', a state dict or TorchScript)"
        )
    if not isinstance(state_dict, Mapping):
        raise RegViewerError(f"{path.name}: the model file has no weights")
    shape = _shape_from(metadata, path)
    model = _build(metadata.get("model"), state_dict, path)
    if model.config.ndim != len(shape):
        raise RegViewerError(f"{path.name}: a {model.config.ndim}D network with a {len(shape)}D shape {shape}")
    return LoadedModel(model, len(shape), shape, str(path), "state dict", dict(metadata))
