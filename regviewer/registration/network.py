"""The "network" method: a VoxelMorph-style U-Net predicts the deformation, optionally refined.

Steps of a run (torch is imported here, inside ``run``, never when the registry loads the method):

1. load the model: a bundled one (``brain2d``, ``brain3d``, or ``auto`` = the one of the images'
   dimension, from ``regviewer.paths.MODELS``) or a user's file, loaded safely (``model_io``);
2. build the model grid in fixed space and put both images on it: the fixed image directly, the
   moving image through the request's initial transform (so that an affine stage run before is
   respected), intensities scaled to 0..1 (``network_grid``);
3. predict the displacement; optionally refine it by a few steps of instance optimisation;
4. sample it on the full fixed grid in mm and compose with the initial transform:
   ``T(x) = initial(x + u(x))``, kept as a composite so points outside the field keep the affine part.

The network only sees the images (masks and landmarks are not used). It was trained on brains
(see regviewer/resources/models/README.md); on other anatomy, expect refinement to do most of the work.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from regviewer.core.errors import RegViewerError
from regviewer.core.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_progress
from regviewer.core.transforms import AffineTransform, CompositeTransform, Transform
from regviewer.paths import MODELS
from regviewer.registration.base import Parameter, ParameterError, Request, Result, resolve_parameters
from regviewer.registration.classic import check_pair

BUNDLED = {"brain2d": "brain2d.pt", "brain3d": "brain3d.pt", "prostate3d": "prostate3d.pt"}
DEFAULT_PASSES = 3  # for a model file that does not say how many passes it was made for
MODEL_SUFFIXES = (".pt", ".pth", ".ts", ".torchscript")


class ModelParameter(Parameter):
    """A choice among the bundled models that also accepts the path of a model file."""

    def validate(self, value: Any) -> Any:
        text = str(value)
        if text in self.choices:
            return text
        path = Path(text).expanduser()
        if path.suffix.lower() in MODEL_SUFFIXES:
            if not path.is_file():
                raise ParameterError(f"{self.name}: model file not found: {path}")
            return str(path.resolve())
        raise ParameterError(
            f"{self.name}: {value!r} is not one of {', '.join(self.choices)} nor a model file ({', '.join(MODEL_SUFFIXES)})"
        )


def bundled_model_path(name: str) -> Path:
    """Where the bundled model ``name`` ("brain2d", "brain3d", "prostate3d") lives."""
    path = MODELS / BUNDLED[name]
    if not path.is_file():
        raise RegViewerError(f"the bundled model {name} is missing ({path}); reinstall RegViewer or give a model file")
    return path


class NetworkMethod:
    name = "network"
    label = "Network (VoxelMorph-style)"
    description = (
        "A trained U-Net predicts a smooth, invertible deformation in a few passes (a second or two on a CPU), "
        "optionally refined by a few optimisation steps. Bundled models: 2D brain slices, 3D brain MR and "
        "prostate MR -> ultrasound. "
        "Tip: run an affine stage first when the images are far apart."
    )
    parameters = (
        ModelParameter(
            "model",
            "choice",
            "auto",
            "Model",
            "auto: the bundled 2D or 3D brain model, by the images' dimension; or brain2d, brain3d, "
            "prostate3d (MR -> transrectal ultrasound of the prostate), or the path of a model file "
            "(from 'regviewer train', a state dict with a .json, or TorchScript).",
            choices=("auto", "brain2d", "brain3d", "prostate3d"),
        ),
        Parameter(
            "passes",
            "int",
            0,
            "Network passes",
            "How many times the network is applied, each time to the moving image warped by the result so far "
            "(a cascade with shared weights): more passes recover larger deformations. 0 = the model's own "
            "number (its file's 'passes'; 3 for a file that does not say).",
            0,
            10,
            minimum_text="model's own",
        ),
        Parameter(
            "refinement_iterations",
            "int",
            0,
            "Refinement iterations",
            "Optimisation steps after the prediction (0 = the network alone). 20-100 sharpen the result.",
            0,
            5000,
        ),
        Parameter(
            "similarity",
            "choice",
            "lncc",
            "Refinement similarity",
            "lncc (local correlation, robust) or mse (same intensities).",
            choices=("lncc", "mse"),
            expert=True,
        ),
        Parameter(
            "smoothness",
            "float",
            1.0,
            "Refinement smoothness",
            "Weight of the diffusion regulariser during refinement.",
            0.0,
            100.0,
            expert=True,
        ),
        Parameter(
            "learning_rate",
            "float",
            0.05,
            "Refinement step",
            "Adam learning rate of the refinement (voxels).",
            1e-4,
            5.0,
            expert=True,
        ),
        Parameter(
            "device",
            "choice",
            "auto",
            "Device",
            "auto: CUDA, then Apple MPS, then CPU.",
            choices=("auto", "cpu", "cuda", "mps"),
        ),
    )
    preview_every = 10

    def run(
        self, request: Request, progress: ProgressCallback = ignore_progress, cancel: CancelToken | None = None
    ) -> Result:
        cancel = cancel or CancelToken()
        started = time.perf_counter()
        parameters = resolve_parameters(self, request.parameters)
        check_pair(request)
        ndim = request.fixed.ndim
        iterations = int(parameters["refinement_iterations"])
        n_levels = 2 if iterations > 0 else 1
        progress(ProgressEvent(self.name, 0, n_levels, 0, None, "loading the network"))
        try:
            import torch  # noqa: F401
        except ImportError:
            raise RegViewerError("the network method needs PyTorch: pip install 'regviewer[torch]'") from None
        from regviewer.registration.network_grid import model_grid, to_model_grid
        from regviewer.registration.torch_backend import inference, ops
        from regviewer.registration.torch_backend.model_io import load_model

        choice = parameters["model"]
        if choice == "auto":
            choice = "brain3d" if ndim == 3 else "brain2d"
        model = load_model(bundled_model_path(choice) if choice in BUNDLED else choice)
        if model.ndim != ndim:
            raise RegViewerError(f"the model {Path(model.source).name} is {model.ndim}D but the images are {ndim}D")
        device = ops.pick_device(parameters["device"])
        log = [
            f"model {Path(model.source).name} ({model.kind}, {model.ndim}D, shape {'x'.join(map(str, model.shape))}), device {ops.describe_device(device)}"
        ]
        if request.fixed_mask is not None or request.moving_mask is not None or request.fixed_landmarks is not None:
            log.append("note: masks and landmarks are not used by the network")

        timings = {"loading": time.perf_counter() - started}
        clock = time.perf_counter()
        grid = model_grid(request.fixed.geometry, model.shape)
        fixed_array = to_model_grid(request.fixed, grid)
        moving_array = to_model_grid(request.moving, grid, request.initial_transform)
        timings["model grid"] = time.perf_counter() - clock
        log.append(f"model grid: {grid.describe()}")
        if cancel.cancelled:
            return self._result(request, request.initial_transform, "cancelled", parameters, started, [], log)

        progress(ProgressEvent(self.name, 0, n_levels, 0, None, "predicting the deformation"))
        clock = time.perf_counter()
        passes = int(parameters["passes"]) or int(model.metadata.get("passes", DEFAULT_PASSES))
        log.append(f"passes: {passes}")
        displacement = inference.predict(model, moving_array, fixed_array, device, passes)
        timings["prediction"] = time.perf_counter() - clock
        history: list[tuple[str, int, int, float]] = []
        cancelled = False
        if iterations > 0:
            progress(
                ProgressEvent(self.name, 0, n_levels, 1, None, preview=self._transform(displacement, grid, request))
            )

            def on_iteration(iteration: int, value: float, current) -> None:
                history.append((self.name, 1, iteration, value))
                preview = (
                    self._transform(current(), grid, request) if (iteration + 1) % self.preview_every == 0 else None
                )
                progress(
                    ProgressEvent(self.name, 1, n_levels, iteration, value, preview=preview, max_iterations=iterations)
                )

            clock = time.perf_counter()
            displacement, cancelled = inference.refine(
                displacement,
                moving_array,
                fixed_array,
                iterations,
                parameters["similarity"],
                parameters["smoothness"],
                parameters["learning_rate"],
                on_iteration,
                cancel,
            )
            timings["refinement"] = time.perf_counter() - clock
        clock = time.perf_counter()
        transform = self._transform(displacement, grid, request)
        timings["mapping to the fixed grid"] = time.perf_counter() - clock
        log.append("timing: " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in timings.items()))
        status = "cancelled" if cancelled else "completed"
        return self._result(request, transform, status, parameters, started, history, log)

    @staticmethod
    def _transform(displacement, grid, request: Request) -> Transform:
        from regviewer.registration.torch_backend.inference import to_fixed_grid

        field = to_fixed_grid(displacement, grid, request.fixed.geometry)
        return field if request.initial_transform is None else CompositeTransform([field, request.initial_transform])

    def _result(
        self,
        request: Request,
        transform: Transform | None,
        status: str,
        parameters: dict,
        started: float,
        history: list,
        log: list[str],
    ) -> Result:
        transform = transform or request.initial_transform or AffineTransform.identity(request.fixed.ndim)
        message = (
            "cancelled by the user"
            if status == "cancelled"
            else (f"network + {len(history)} refinement iterations" if history else "network prediction")
        )
        return Result(
            method=self.name,
            transform=transform,
            status=status,
            parameters=parameters,
            runtime_s=time.perf_counter() - started,
            metric_history=history,
            message=message,
            log=(f"{self.label}: {status}; {message}", *log, transform.describe()),
        )
