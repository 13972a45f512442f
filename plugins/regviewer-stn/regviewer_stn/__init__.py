"""A spatial-transformer network regressing an affine (``stn-affine``), as a RegViewer plugin.

Imports only ``regviewer.api``; torch is imported when the method runs or trains, never when
RegViewer lists its methods. See ``method.py`` (inference), ``network.py`` (the CNN, model files),
``synthetic.py`` and ``training.py`` (``regviewer train`` with ``trainer = "stn-affine"``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from regviewer.api import CancelToken, Parameter, ParameterError, Request, Result, ignore_progress

__version__ = "0.1.0"


class ModelParameter(Parameter):
    """ "bundled" or the path of a model file written by ``regviewer train`` (a .pt file)."""

    def validate(self, value: Any) -> Any:
        text = str(value)
        if text == "bundled":
            return text
        path = Path(text).expanduser()
        if path.suffix.lower() != ".pt":
            raise ParameterError(f"{self.name}: expected 'bundled' or a .pt model file, got {value!r}")
        if not path.is_file():
            raise ParameterError(f"{self.name}: model file not found: {path}")
        return str(path.resolve())


class STNAffineMethod:
    """Affine registration of 2D images by a trained spatial-transformer network, then a short refinement."""

    name = "stn-affine"
    label = "Affine (spatial-transformer network)"
    description = (
        "A small CNN predicts the affine between two 2D images in one pass (trained on synthetic pairs), "
        "then a few optimisation steps refine it. Fast, no initialisation needed; follow it with a deformable stage."
    )
    parameters = (
        ModelParameter(
            "model",
            "choice",
            "bundled",
            "Model",
            "'bundled' (2D, trained on synthetic pairs) or a .pt file "
            "written by 'regviewer train' with trainer = \"stn-affine\".",
            choices=("bundled",),
        ),
        Parameter(
            "refine_iterations",
            "int",
            100,
            "Refinement steps",
            "Optimisation steps after the prediction (normalised cross-correlation); 0 keeps the network's answer.",
            0,
            2000,
        ),
        Parameter(
            "refine_size",
            "int",
            192,
            "Refinement grid",
            "Pixels per side of the grid the refinement works on.",
            32,
            1024,
            unit="px",
            expert=True,
        ),
        Parameter(
            "learning_rate",
            "float",
            0.002,
            "Refinement step",
            "Adam step size (normalised coordinates).",
            1e-5,
            0.1,
            expert=True,
        ),
    )

    def run(self, request: Request, progress=ignore_progress, cancel: CancelToken | None = None) -> Result:
        from regviewer_stn.method import run_stn

        return run_stn(self, request, progress, cancel)
