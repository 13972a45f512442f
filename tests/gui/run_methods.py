"""Small registration methods for the run tests: one that takes its time (and honours cancel), one that fails."""

from __future__ import annotations

import time

import numpy as np

from regviewer.core.progress import ProgressEvent
from regviewer.core.transforms import AffineTransform
from regviewer.registration.base import Parameter, Result, resolve_parameters
from regviewer.registration.classic import AffineMethod, RigidMethod
from regviewer.registration.registry import Registry


class SlowShiftMethod:
    """Shifts the moving image 0.05 mm further along x every step; polls the cancel token each step."""

    name = "slow-shift"
    label = "Slow shift (test)"
    description = "A test method: a translation growing step by step."
    parameters = (
        Parameter("steps", "int", 4000, "Steps", "How many steps to take.", 1, 10**7),
        Parameter("step_s", "float", 0.002, "Step time", "Seconds per step.", 0.0, 1.0, unit="s", expert=True),
    )

    def run(self, request, progress, cancel):
        values = resolve_parameters(self, request.parameters)
        started = time.perf_counter()
        ndim = request.fixed.ndim
        transform = AffineTransform.identity(ndim)
        history = []
        for step in range(values["steps"]):
            if cancel.cancelled:
                return Result(
                    self.name,
                    transform,
                    "cancelled",
                    values,
                    time.perf_counter() - started,
                    history,
                    "cancelled by the user",
                )
            translation = np.zeros(ndim)
            translation[0] = 0.05 * (step + 1)
            transform = AffineTransform(np.eye(ndim), translation)
            history.append((self.name, 0, step, 1.0 / (step + 1)))
            progress(
                ProgressEvent(
                    self.name,
                    0,
                    1,
                    step,
                    1.0 / (step + 1),
                    preview=transform if step % 5 == 0 else None,
                    max_iterations=values["steps"],
                )
            )
            time.sleep(values["step_s"])
        return Result(
            self.name, transform, "completed", values, time.perf_counter() - started, history, "all steps done"
        )


class ExplodingMethod:
    """Fails after a few iterations, like a plugin with a bug."""

    name = "exploding"
    label = "Exploding plugin (test)"
    description = "A test method that raises."
    parameters = (Parameter("after", "int", 3, "Fail after", "Iterations before the error.", 0, 100),)

    def run(self, request, progress, cancel):
        values = resolve_parameters(self, request.parameters)
        for step in range(values["after"]):
            progress(ProgressEvent(self.name, 0, 1, step, 1.0, max_iterations=10))
        raise RuntimeError("plugin exploded: division by zero in the similarity")


def make_registry() -> Registry:
    """rigid and affine (real engines) plus the two test methods, and one broken plugin."""
    registry = Registry()
    for name, method in (
        ("rigid", RigidMethod),
        ("affine", AffineMethod),
        ("slow-shift", SlowShiftMethod),
        ("exploding", ExplodingMethod),
    ):
        registry.add(name, method)
    registry.errors["broken-plugin"] = "broken_plugin.methods:Method: ImportError: no module named torchvision"
    return registry
