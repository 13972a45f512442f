""" "Deformable (torch)": instance optimisation of an affine and a dense field on CUDA, MPS or CPU.

The method class only describes parameters and converts a ``Request`` into tensors; the maths lives
in ``torch_backend.instance``. torch is imported inside ``run()``: the registry loads this module
when the GUI or the CLI starts, and they must start without torch.

Before optimising, the memory a run needs is estimated from the image sizes and the pyramid; when it
exceeds the budget (``max_memory_mb``, or what the device has free) the run either stops with a
``MemoryBudgetError`` that names a downsampled setting that fits (the GUI offers it), or, with
``if_too_large=downsample``, coarsens the pyramid itself and says so in the log.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from regviewer.core.errors import RegViewerError
from regviewer.core.image import Image
from regviewer.core.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_progress
from regviewer.core.resample import resample_image
from regviewer.core.transforms import AffineTransform, CompositeTransform, Transform, simplify
from regviewer.registration.base import Parameter, Request, Result, resolve_parameters
from regviewer.registration.classic import check_pair


class MemoryBudgetError(RegViewerError):
    """A run would not fit in memory; ``suggested_parameters`` is a downsampled setting that fits."""

    def __init__(self, message: str, suggested_parameters: dict[str, Any]) -> None:
        super().__init__(message)
        self.suggested_parameters = suggested_parameters


PARAMETERS = (
    Parameter(
        "similarity",
        "choice",
        "lncc",
        "Similarity",
        "lncc: local correlation (same modality, robust to bias); mse: same intensities; nmi: normalised mutual information (different contrasts).",
        choices=("lncc", "mse", "nmi"),
    ),
    Parameter(
        "transform",
        "choice",
        "svf",
        "Deformation model",
        "svf: stationary velocity field integrated by scaling and squaring (diffeomorphic, no folds); displacement: a plain dense field.",
        choices=("svf", "displacement"),
    ),
    Parameter(
        "regulariser",
        "choice",
        "diffusion",
        "Regulariser",
        "diffusion: penalises stretching (first derivatives); bending: penalises curvature (second derivatives), allows larger smooth motions.",
        choices=("diffusion", "bending"),
    ),
    Parameter(
        "regularisation_weight",
        "float",
        1.0,
        "Smoothness weight",
        "Weight of the regulariser against the similarity: higher is smoother, lower follows finer detail.",
        0.0,
        1e6,
    ),
    Parameter(
        "shrink_factors",
        "int_list",
        (4, 2),
        "Shrink factors",
        "Image resolution of each dense level, coarse to fine (4 = a quarter of the fixed resolution); used when "
        "Level voxel sizes is 0.",
        1,
        64,
        expert=True,
    ),
    Parameter(
        "level_spacing",
        "float_list",
        (0.0,),
        "Level voxel sizes",
        "The voxel size of each dense level in mm, coarse to fine (each becomes the shrink that gives about that size "
        "from the fixed image's finest voxel, at least 1); 0 = use the shrink factors (expert parameters).",
        0.0,
        1000.0,
        unit="mm",
    ),
    Parameter(
        "iterations",
        "int_list",
        (100, 30),
        "Iterations per level",
        "Adam steps at each dense level (one value per shrink factor).",
        0,
        100000,
    ),
    Parameter(
        "field_shrink",
        "int",
        4,
        "Field resolution",
        "The dense field is never finer than the fixed resolution divided by this (4 = a quarter; 2 follows finer detail, slower): fine image levels stay cheap.",
        1,
        16,
        expert=True,
    ),
    Parameter(
        "field_spacing",
        "float",
        0.0,
        "Field spacing",
        "The dense field's grid spacing in mm (its smoothness, whatever the voxel size); it sets the field resolution "
        "from the fixed image's finest voxel size instead of field_shrink. 0 = use field_shrink.",
        0.0,
        1000.0,
        unit="mm",
        expert=True,
    ),
    Parameter(
        "field_interpolation",
        "choice",
        "linear",
        "Field between nodes",
        "How the field is read between its grid's nodes. cubic: as the control points of a cubic B-spline (as "
        "elastix's B-spline grid), smooth everywhere and closer to smooth anatomy for the same spacing; linear: "
        "straight lines between nodes.",
        choices=("linear", "cubic"),
        expert=True,
    ),
    Parameter(
        "learning_rate",
        "float",
        0.2,
        "Step",
        "Adam step of the dense field, in mm per iteration.",
        1e-4,
        100.0,
        unit="mm",
        expert=True,
    ),
    Parameter(
        "sampled_iterations",
        "int",
        0,
        "Full-resolution refinement",
        "Adam steps of a last level at the full image resolution on random patches (as elastix samples its metric); 0 = off. LNCC or MSE only; with a label term, the images alone refine here.",
        0,
        100000,
    ),
    Parameter(
        "samples",
        "int",
        2048,
        "Samples",
        "Random patches (each lncc_window voxels wide) drawn per step of the full-resolution refinement.",
        16,
        10**7,
        expert=True,
    ),
    Parameter(
        "patch_stride",
        "int",
        1,
        "Patch stride",
        "Voxels between the points of a full-resolution patch: 2 keeps every other voxel of the LNCC window "
        "(27 points instead of 125 in 3D), so that more patches fit in a step's time.",
        1,
        8,
        unit="voxels",
        expert=True,
    ),
    Parameter(
        "sampled_learning_rate",
        "float",
        0.05,
        "Refinement step",
        "Adam step of the full-resolution refinement at its start, in mm per iteration (it decays to a tenth).",
        1e-4,
        100.0,
        unit="mm",
        expert=True,
    ),
    Parameter(
        "affine",
        "bool",
        True,
        "Affine stage",
        "Optimise an affine first (image centres aligned when no initial transform is given). Turn off after an affine stage of another engine.",
    ),
    Parameter(
        "affine_iterations",
        "int",
        60,
        "Affine iterations",
        "Adam steps of the affine stage per affine level.",
        0,
        100000,
        expert=True,
    ),
    Parameter(
        "affine_shrink_factors",
        "int_list",
        (4,),
        "Affine shrink factors",
        "Image resolution of each affine level (4 = a quarter of the fixed resolution); used when Affine level voxel "
        "sizes is 0.",
        1,
        64,
        expert=True,
    ),
    Parameter(
        "affine_level_spacing",
        "float_list",
        (0.0,),
        "Affine level voxel sizes",
        "The voxel size of each affine level in mm (as Level voxel sizes for the dense levels); 0 = use the affine "
        "shrink factors.",
        0.0,
        1000.0,
        unit="mm",
        expert=True,
    ),
    Parameter(
        "lncc_window",
        "int",
        5,
        "LNCC window",
        "Width of the local correlation window, in voxels of each level.",
        3,
        31,
        unit="voxels",
        expert=True,
    ),
    Parameter(
        "label_weight",
        "float",
        0.0,
        "Label weight",
        "Weight of a Dice term on label maps, when fixed and moving labels are loaded (0 = off). "
        "At any weight, loaded labels decide the final check: the result with the best label Dice is kept.",
        0.0,
        1e6,
    ),
    Parameter(
        "landmark_weight",
        "float",
        0.0,
        "Landmark weight",
        "Weight of the squared landmark distance (mm^2), when landmark pairs are loaded (0 = off).",
        0.0,
        1e6,
    ),
    Parameter(
        "device",
        "choice",
        "auto",
        "Device",
        "auto: CUDA, then Apple MPS, then CPU.",
        choices=("auto", "cpu", "cuda", "mps"),
    ),
    Parameter(
        "max_memory_mb",
        "int",
        0,
        "Memory budget",
        "Most memory a run may use; 0 = what the device has free.",
        0,
        10**7,
        unit="MB",
        expert=True,
    ),
    Parameter(
        "if_too_large",
        "choice",
        "stop",
        "If it does not fit",
        "stop: refuse with a message naming a downsampled setting that fits; downsample: coarsen the levels until the run fits.",
        choices=("stop", "downsample"),
        expert=True,
    ),
    Parameter(
        "threads",
        "int",
        0,
        "CPU threads",
        "torch threads on the CPU; 0 = the cores this process may use.",
        0,
        1024,
        expert=True,
    ),
)


class TorchDeformableMethod:
    name = "torch-deformable"
    label = "Deformable (torch)"
    description = (
        "Affine then a dense deformation (diffeomorphic velocity field or plain displacement) optimised "
        "coarse to fine with torch on a GPU when there is one, else the CPU; LNCC, MSE or NMI similarity, "
        "diffusion or bending regularisation, optional label and landmark terms."
    )
    parameters = PARAMETERS

    def run(
        self, request: Request, progress: ProgressCallback = ignore_progress, cancel: CancelToken | None = None
    ) -> Result:
        cancel = cancel or CancelToken()
        started = time.perf_counter()
        parameters = resolve_parameters(self, request.parameters)
        check_pair(request)
        finest = float(min(request.fixed.geometry.spacing))
        for spacing, shrinks in (
            ("level_spacing", "shrink_factors"),
            ("affine_level_spacing", "affine_shrink_factors"),
        ):
            if all(mm > 0 for mm in parameters[spacing]):
                parameters[shrinks] = tuple(max(1, int(round(mm / finest))) for mm in parameters[spacing])
        levels = len(parameters["shrink_factors"])
        if len(parameters["iterations"]) != levels:
            raise RegViewerError(
                f"{levels} shrink factors but {len(parameters['iterations'])} iteration counts: give one per level"
            )

        import torch  # lazily: only when this method runs

        from regviewer.registration.torch_backend import instance, ops

        device = ops.pick_device(parameters["device"])
        threads_before = torch.get_num_threads()
        if device.type == "cpu":
            torch.set_num_threads(parameters["threads"] or _usable_cores())
        log = [f"{self.label}: device {ops.describe_device(device)}"]
        try:
            problem, moving_note = _problem(request, device, parameters)
            if moving_note:
                log.append(moving_note)
            settings = _settings(parameters, request.fixed.geometry.spacing)
            settings, full_output = _fit_memory(problem, settings, parameters, device, log)
            progress(ProgressEvent(self.name, 0, levels, 0, None, log[0]))
            with_initial = _with_initial(request.initial_transform)

            def report(stage: str, level: int, n_levels: int, iteration: int, value: float | None, preview) -> None:
                budget = {"affine": settings.affine_iterations, "sampled": settings.sampled_iterations}.get(
                    stage, settings.iterations[level] if level < len(settings.iterations) else 0
                )
                event_preview = with_initial(preview()) if preview is not None else None
                progress(
                    ProgressEvent(
                        f"{self.name}:{stage}",
                        level,
                        n_levels,
                        iteration,
                        value,
                        preview=event_preview,
                        max_iterations=budget,
                    )
                )

            optimiser = instance.InstanceOptimiser(problem, settings, report, lambda: cancel.cancelled)
            log.append(_describe_levels(optimiser, settings))
            state = optimiser.run()
            transform = with_initial(optimiser.current_transform(full_resolution=full_output))
        finally:
            torch.set_num_threads(threads_before)
        status = "cancelled" if state.cancelled else "completed"
        log.append(
            f"{self.label}: {status}; affine {state.seconds.get('affine', 0):.2f} s, dense {state.seconds.get('dense', 0):.2f} s"
        )
        if state.values:
            log.append(
                "data terms at the finest level (lower is better): "
                + ", ".join(f"{name} {value:.4f}" for name, value in state.values.items())
            )
        if state.dice:
            log.append("label Dice: " + ", ".join(f"{name} {value:.3f}" for name, value in state.dice.items()))
        if state.stretched is not None:
            log.append(f"field: {100 * state.stretched:.1f} % of its grid compressed or stretched more than 2-fold")
        log.extend(f"warning: {warning}" for warning in state.warnings)
        log.append(transform.describe())
        message = "cancelled by the user" if state.cancelled else f"{levels} dense levels done"
        if state.warnings and not state.cancelled:
            message += "; " + "; ".join(state.warnings)
        return Result(
            method=self.name,
            transform=transform,
            status=status,
            parameters=parameters,
            runtime_s=time.perf_counter() - started,
            metric_history=[
                (f"{self.name}:{stage}", level, iteration, value) for stage, level, iteration, value in state.history
            ],
            message=message,
            log=log,
        )


def _usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def _with_initial(initial: Transform | None):
    def combine(transform: Transform) -> Transform:
        return transform if initial is None else simplify(CompositeTransform([transform, initial]))

    return combine


def _linear_matrix(transform: Transform | None, ndim: int) -> np.ndarray | None:
    """The homogeneous matrix of a linear transform (identity for None), None when not linear."""
    if transform is None:
        return np.eye(ndim + 1)
    simple = simplify(transform)
    return simple.homogeneous if isinstance(simple, AffineTransform) else None


def _problem(request: Request, device, parameters: dict):
    """Tensors and frames of the request; a non-linear initial transform is applied by resampling first."""
    from regviewer.registration.torch_backend import instance, ops

    fixed, moving = request.fixed, request.moving
    ndim = fixed.ndim
    initial_matrix = _linear_matrix(request.initial_transform, ndim)
    moving_points = request.moving_landmarks
    note = ""
    moving_geometry = moving.geometry
    if initial_matrix is None:
        moving = resample_image(moving, fixed.geometry, request.initial_transform)
        moving_geometry = fixed.geometry
        initial_matrix = np.eye(ndim + 1)
        note = "the non-linear initial transform was applied by resampling the moving image onto the fixed grid"
        if moving_points is not None:
            moving_points = request.initial_transform.inverse_transform_points(moving_points)
    fixed_labels, moving_labels, values = _labels(request, parameters)
    if moving_labels is not None and moving_geometry is not request.moving.geometry:
        moving_labels = resample_image(
            Image(moving_labels, request.moving.geometry, is_label=True),
            fixed.geometry,
            request.initial_transform,
            "label",
        ).array
    return instance.Problem(
        fixed=ops.image_to_tensor(fixed, device, normalise=True),
        moving=ops.image_to_tensor(moving, device, normalise=True),
        fixed_geometry=fixed.geometry,
        moving_geometry=moving_geometry,
        initial_matrix=initial_matrix,
        fixed_mask=None
        if request.fixed_mask is None
        else ops.image_to_tensor(_on_grid(request.fixed_mask, fixed) > 0, device),
        fixed_labels=None if fixed_labels is None else ops.image_to_tensor(fixed_labels, device),
        moving_labels=None if moving_labels is None else ops.image_to_tensor(moving_labels, device),
        label_values=values,
        fixed_points=request.fixed_landmarks if parameters["landmark_weight"] > 0 else None,
        moving_points=moving_points if parameters["landmark_weight"] > 0 else None,
    ), note


def _on_grid(image: Image, reference: Image) -> np.ndarray:
    if image.geometry.same_as(reference.geometry):
        return np.asarray(image.array)
    return resample_image(image.with_array(image.array, is_label=True), reference.geometry, None, "label").array


def _labels(request: Request, parameters: dict) -> tuple[Any, Any, tuple[int, ...]]:
    """Label maps: the request's ``fixed_labels`` / ``moving_labels`` when it has them.

    Loaded even with ``label_weight`` 0: the final check then compares start, affine and final by
    their label Dice too (the labels are the user's own account of what must overlap).
    """
    fixed_labels = getattr(request, "fixed_labels", None)
    moving_labels = getattr(request, "moving_labels", None)
    if fixed_labels is None or moving_labels is None:
        return None, None, ()
    fixed_array = _on_grid(fixed_labels, request.fixed)
    values = tuple(int(v) for v in np.intersect1d(np.unique(fixed_array), np.unique(moving_labels.array)) if v != 0)
    return fixed_array, np.asarray(moving_labels.array), values


def _describe_levels(optimiser, settings) -> str:
    """One log line with the grid of every level: per axis, thin or small axes are shrunk less (never below
    ``Settings.min_level_voxels`` voxels), so a 32-slice volume keeps its slices at coarse levels."""

    def shape(shrink: int) -> str:
        return "x".join(str(n) for n in optimiser.level_shape(shrink)[::-1])

    affine = ", ".join(shape(s) for s in settings.affine_shrink_factors) if settings.affine else "off"
    dense = ", ".join(shape(s) for s in settings.shrink_factors)
    field = "x".join(str(n) for n in optimiser.field_shape(min(settings.shrink_factors or (1,)))[::-1])
    return f"levels (x by y by z voxels): affine {affine}; dense {dense}; field {field}"


def _field_shrink(parameters: dict, spacing) -> int:
    """``field_shrink``, or the shrink that puts the field's grid about ``field_spacing`` mm apart when that is set."""
    if parameters["field_spacing"] <= 0:
        return parameters["field_shrink"]
    return max(1, int(round(parameters["field_spacing"] / float(min(spacing)))))


def _settings(parameters: dict, spacing=(1.0,)):
    from regviewer.registration.torch_backend.instance import Settings

    return Settings(
        similarity=parameters["similarity"],
        transform=parameters["transform"],
        regulariser=parameters["regulariser"],
        regularisation_weight=parameters["regularisation_weight"],
        shrink_factors=tuple(parameters["shrink_factors"]),
        iterations=tuple(parameters["iterations"]),
        field_shrink=_field_shrink(parameters, spacing),
        learning_rate=parameters["learning_rate"],
        affine=parameters["affine"],
        affine_shrink_factors=tuple(parameters["affine_shrink_factors"]),
        affine_iterations=parameters["affine_iterations"],
        lncc_window=parameters["lncc_window"],
        label_weight=parameters["label_weight"],
        landmark_weight=parameters["landmark_weight"],
        sampled_iterations=parameters["sampled_iterations"],
        samples=parameters["samples"],
        patch_stride=parameters["patch_stride"],
        sampled_learning_rate=parameters["sampled_learning_rate"],
        field_interpolation=parameters["field_interpolation"],
    )


def available_bytes(device) -> int:
    """Free memory on ``device``: CUDA's free memory, else the system's available memory."""
    import torch

    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 8 * 1024**3


def _coarser(settings, factor: int):
    from dataclasses import replace

    return replace(
        settings,
        shrink_factors=tuple(s * factor for s in settings.shrink_factors),
        field_shrink=settings.field_shrink * factor,
        affine_shrink_factors=tuple(s * factor for s in settings.affine_shrink_factors),
    )


def _fit_memory(problem, settings, parameters: dict, device, log: list[str]):
    """The settings to run with and whether the output field is on the full fixed grid (see module doc)."""
    from regviewer.registration.torch_backend.instance import estimate_bytes

    budget = (
        parameters["max_memory_mb"] * 1024**2 if parameters["max_memory_mb"] > 0 else int(0.8 * available_bytes(device))
    )
    shapes = (tuple(problem.fixed.shape[2:]), tuple(problem.moving.shape[2:]))
    labels = len(problem.label_values) if settings.label_weight > 0 else 0  # else only the final check reads them
    needed = estimate_bytes(*shapes, settings, labels, full_output=True)
    log.append(f"memory: about {needed / 1024**2:.0f} MB needed, budget {budget / 1024**2:.0f} MB")
    if needed <= budget:
        return settings, True
    for factor in (2, 4, 8, 16):
        coarse = _coarser(settings, factor)
        coarse_needed = estimate_bytes(*shapes, coarse, labels, full_output=False)
        if coarse_needed <= budget:
            break
    else:
        raise RegViewerError(
            f"{TorchDeformableMethod.label}: the images need about {needed / 1024**2:.0f} MB and even a 16x downsampled run "
            f"does not fit in {budget / 1024**2:.0f} MB; crop or downsample the images first"
        )
    suggestion = {
        "shrink_factors": ",".join(str(s) for s in coarse.shrink_factors),
        "field_shrink": coarse.field_shrink,
        "affine_shrink_factors": ",".join(str(s) for s in coarse.affine_shrink_factors),
    }
    if parameters["if_too_large"] != "downsample":
        raise MemoryBudgetError(
            f"{TorchDeformableMethod.label}: this run needs about {needed / 1024**2:.0f} MB but {budget / 1024**2:.0f} MB are available "
            f"on {device.type}. A run {factor}x coarser fits (about {coarse_needed / 1024**2:.0f} MB): use "
            + " ".join(f"{name}={value}" for name, value in suggestion.items())
            + " (the field is then kept on its coarse grid), or if_too_large=downsample",
            suggestion,
        )
    log.append(
        f"memory: downsampled {factor}x to fit ({coarse_needed / 1024**2:.0f} MB); the field stays on its coarse grid"
    )
    return coarse, False
