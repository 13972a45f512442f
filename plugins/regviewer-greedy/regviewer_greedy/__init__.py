"""Greedy (picsl-greedy) as RegViewer methods: ``greedy-affine`` and ``greedy-deformable``. GPL-3.0.

Uses only RegViewer's public API (``regviewer.api``). Greedy's Python
binding holds the Python lock while it runs, so each call runs in a child process (forked on Linux,
spawned elsewhere): the parent follows Greedy's "Level .. Iter .. Energy" lines for progress and
terminates the child on cancel. Images and transforms travel as files in a temporary folder.

Conventions: Greedy's matrices are RAS (fixed -> moving); RegViewer's are LPS: A_lps = D A_ras D with
D = diag(-1, -1, 1[, 1]). Greedy's warps are LPS displacement fields on the fixed grid, applied to a
fixed point before the affine it was started from.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from regviewer.api import (
    AffineTransform,
    CancelToken,
    CompositeTransform,
    InputMismatchError,
    Parameter,
    ProgressCallback,
    ProgressEvent,
    RegViewerError,
    Request,
    Result,
    Transform,
    ignore_progress,
    read_displacement_field,
    resolve_parameters,
)

_ROW = re.compile(r"Level\s+(\d+)\s+Iter\s+(\d+)\s+Energy\s*=\s*([-+0-9.eE]+)")
METRICS = {"ncc": "NCC 2x2x2", "ssd": "SSD", "mi": "MI", "nmi": "NMI"}


def ras_lps(ndim: int) -> np.ndarray:
    """D = diag(-1, -1, 1[, 1]): flips x and y between RAS and LPS (homogeneous)."""
    return np.diag([-1.0, -1.0] + [1.0] * (ndim - 1))


def matrix_to_lps(matrix_ras: np.ndarray) -> AffineTransform:
    flip = ras_lps(matrix_ras.shape[0] - 1)
    return AffineTransform.from_homogeneous(flip @ matrix_ras @ flip)


def lps_to_matrix(transform: AffineTransform) -> np.ndarray:
    flip = ras_lps(transform.ndim)
    return flip @ transform.homogeneous @ flip


def write_matrix(transform: AffineTransform, path: Path) -> None:
    np.savetxt(path, lps_to_matrix(transform), fmt="%.12g")


def _child(commands: list[str], ndim: int, log: str) -> None:
    """Child body: Greedy's output into the log file, run the commands, leave without the parent's atexit."""
    code = 0
    try:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        import picsl_greedy

        greedy = picsl_greedy.Greedy3D() if ndim == 3 else picsl_greedy.Greedy2D()
        for command in commands:
            greedy.execute(command)
    except BaseException as error:  # noqa: BLE001  reported through the log and the exit code
        print(f"GREEDY-ERROR: {type(error).__name__}: {error}", flush=True)
        code = 1
    finally:
        sys.stdout.flush()
        os._exit(code)


def run_greedy(
    commands: list[str], ndim: int, work: Path, name: str, levels: int, progress: ProgressCallback, cancel: CancelToken
) -> tuple[str, list[tuple[str, int, int, float]]]:
    """Run Greedy commands in a child; return ("completed" | "cancelled", metric history)."""
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    log = work / "greedy.log"
    process = multiprocessing.get_context(method).Process(target=_child, args=(commands, ndim, str(log)), daemon=True)
    process.start()
    offset, history = 0, []
    while True:
        alive = process.is_alive()
        if log.exists():
            with open(log, "rb") as handle:
                handle.seek(offset)
                text = handle.read().decode("utf-8", errors="replace")
            cut = text.rfind("\n") + 1
            offset += len(text[:cut].encode("utf-8"))
            rows = [(name, int(m.group(1)), int(m.group(2)), -float(m.group(3))) for m in _ROW.finditer(text[:cut])]
            history.extend(rows)
            if rows:
                _, level, iteration, metric = rows[-1]
                progress(ProgressEvent(name, level, levels, iteration, metric, f"Greedy level {level + 1}/{levels}"))
        if not alive:
            break
        if cancel.cancelled:
            process.terminate()
            process.join(0.3)
            if process.is_alive():
                process.kill()
            process.join()
            return "cancelled", history
        process.join(0.1)
    if process.exitcode != 0:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines() if log.exists() else []
        reason = next((line for line in reversed(lines) if "ERROR" in line.upper()), f"exit code {process.exitcode}")
        raise RegViewerError(f"Greedy failed: {reason.strip()[:300]}")
    return "completed", history


def _write_images(request: Request, work: Path) -> list[str]:
    arguments = []
    for role, image in (("fixed", request.fixed), ("moving", request.moving)):
        path = work / f"{role}.nii.gz"
        sitk.WriteImage(sitk.Cast(image.to_sitk(), sitk.sitkFloat32), str(path))
        arguments.append(str(path))
    return arguments


def _metric(values: dict, ndim: int) -> str:
    metric = METRICS[values["metric"]]
    return metric if ndim == 3 else metric.replace("2x2x2", "2x2")


def _levels(values: dict) -> str:
    return "x".join(str(int(n)) for n in values["iterations"])


class _GreedyMethod:
    name = ""
    label = ""
    description = ""
    parameters: tuple[Parameter, ...] = ()

    def _commands(self, request: Request, values: dict, work: Path, images: list[str]) -> list[str]:
        raise NotImplementedError

    def _result(self, request: Request, work: Path) -> Transform:
        raise NotImplementedError

    def run(
        self, request: Request, progress: ProgressCallback = ignore_progress, cancel: CancelToken | None = None
    ) -> Result:
        cancel = cancel or CancelToken()
        started = time.perf_counter()
        values = resolve_parameters(self, request.parameters)
        if request.fixed.ndim != request.moving.ndim:
            raise InputMismatchError("the fixed and moving images must have the same dimension")
        with tempfile.TemporaryDirectory(prefix="regviewer-greedy-") as folder:
            work = Path(folder)
            commands = self._commands(request, values, work, _write_images(request, work))
            status, history = run_greedy(
                commands, request.fixed.ndim, work, self.name, len(values["iterations"]), progress, cancel
            )
            if status == "completed":
                transform = self._result(request, work)
            else:
                transform = request.initial_transform or AffineTransform.identity(request.fixed.ndim)
        message = "cancelled by the user" if status == "cancelled" else "Greedy finished"
        return Result(
            method=self.name,
            transform=transform,
            status=status,
            parameters=values,
            runtime_s=time.perf_counter() - started,
            metric_history=history,
            message=message,
            log=[f"{self.label}: {status}", transform.describe()],
        )


def _common(iterations: tuple[int, ...]) -> tuple[Parameter, ...]:
    return (
        Parameter(
            "metric",
            "choice",
            "ncc",
            "Metric",
            "ncc: local correlation (radius 2 voxels); ssd; mi / nmi for different modalities.",
            choices=tuple(METRICS),
        ),
        Parameter(
            "iterations",
            "int_list",
            iterations,
            "Iterations",
            "Iterations per level, coarse to fine (Greedy's -n).",
            0,
            100000,
        ),
        Parameter("threads", "int", 0, "Threads", "0 = Greedy's default (all cores).", 0, 256, expert=True),
    )


def _threads(values: dict) -> str:
    return f" -threads {values['threads']}" if values["threads"] else ""


class GreedyAffineMethod(_GreedyMethod):
    name = "greedy-affine"
    label = "Greedy affine"
    description = (
        "Greedy (picsl-greedy) rigid or affine registration (-a), image centres aligned first. GPL-3.0 plugin."
    )
    parameters = (
        *_common((100, 50, 10)),
        Parameter(
            "kind",
            "choice",
            "affine",
            "Transform",
            "rigid, similarity or affine (Greedy's -dof).",
            choices=("rigid", "similarity", "affine"),
        ),
    )

    def _commands(self, request: Request, values: dict, work: Path, images: list[str]) -> list[str]:
        ndim = request.fixed.ndim
        start = " -ia-image-centers"
        if request.initial_transform is not None:
            if not request.initial_transform.is_linear:
                raise InputMismatchError("greedy-affine starts only from a linear transform")
            write_matrix(_linear(request.initial_transform), work / "initial.mat")
            start = f" -ia {work / 'initial.mat'}"
        dof = {"rigid": 6, "similarity": 7, "affine": 12}[values["kind"]]  # Greedy's numbering, in 2D too
        return [
            f"-d {ndim} -i {images[0]} {images[1]} -a -dof {dof} -o {work / 'affine.mat'}{start} -n {_levels(values)} -m {_metric(values, ndim)}{_threads(values)}"
        ]

    def _result(self, request: Request, work: Path) -> Transform:
        return matrix_to_lps(np.loadtxt(work / "affine.mat"))


class GreedyDeformableMethod(_GreedyMethod):
    name = "greedy-deformable"
    label = "Greedy deformable"
    description = "Greedy's diffeomorphic greedy flow, started from the previous (linear) stage. GPL-3.0 plugin."
    parameters = (
        *_common((100, 50, 10)),
        Parameter(
            "sigma_update",
            "float",
            2.0,
            "Update smoothing",
            "Gaussian smoothing of the update (voxels, -s first value).",
            0.0,
            50.0,
        ),
        Parameter(
            "sigma_total",
            "float",
            0.5,
            "Total smoothing",
            "Gaussian smoothing of the total warp (voxels, -s second value).",
            0.0,
            50.0,
        ),
    )

    def _commands(self, request: Request, values: dict, work: Path, images: list[str]) -> list[str]:
        ndim = request.fixed.ndim
        start = ""
        if request.initial_transform is not None:
            if not request.initial_transform.is_linear:
                raise InputMismatchError(
                    "greedy-deformable starts only from a linear transform (run an affine stage first)"
                )
            write_matrix(_linear(request.initial_transform), work / "initial.mat")
            start = f" -it {work / 'initial.mat'}"
        return [
            f"-d {ndim} -i {images[0]} {images[1]}{start} -o {work / 'warp.nii.gz'} -n {_levels(values)} -m {_metric(values, ndim)} "
            f"-s {values['sigma_update']:g}vox {values['sigma_total']:g}vox{_threads(values)}"
        ]

    def _result(self, request: Request, work: Path) -> Transform:
        warp = read_displacement_field(work / "warp.nii.gz")
        if request.initial_transform is None:
            return warp
        return CompositeTransform([warp, _linear(request.initial_transform)])


def _linear(transform: Transform) -> AffineTransform:
    """A linear transform (an affine, or a chain of them) as one AffineTransform."""
    if isinstance(transform, AffineTransform):
        return transform
    points = np.vstack([np.zeros(transform.ndim), np.eye(transform.ndim)])
    moved = transform.transform_points(points)
    return AffineTransform((moved[1:] - moved[0]).T, moved[0])
