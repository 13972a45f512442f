"""SimpleITK engines: rigid, similarity, affine and multi-resolution B-spline.

Each method is a small class whose ``parameters`` schema drives the GUI form and the CLI, and whose
``run`` returns a fixed -> moving transform that includes the request's initial transform (a linear
chain collapses to one affine; a deformable stage on top of an affine is kept as a composite).
The demons engine lives in ``demons.py``.
"""

from __future__ import annotations

import time

import numpy as np
import SimpleITK as sitk

from regviewer.core.errors import InputMismatchError, RegViewerError
from regviewer.core.progress import CancelToken, ProgressCallback, ignore_progress
from regviewer.core.transforms import AffineTransform, CompositeTransform, Transform, simplify, transform_from_sitk
from regviewer.registration import sitk_driver
from regviewer.registration.base import Parameter, Request, Result, resolve_parameters


def check_pair(request: Request) -> None:
    """Refuse a fixed / moving pair of different dimensions."""
    if request.fixed.ndim != request.moving.ndim:
        raise InputMismatchError(
            f"the fixed image is {request.fixed.ndim}D but the moving image is {request.moving.ndim}D; "
            "register images of the same dimension"
        )
    if request.initial_transform is not None and request.initial_transform.ndim != request.fixed.ndim:
        raise InputMismatchError(
            f"the initial transform is {request.initial_transform.ndim}D, the images {request.fixed.ndim}D"
        )


def fixed_centre(request: Request) -> tuple[float, ...]:
    size = np.array(request.fixed.geometry.size, dtype=float)
    return tuple(float(v) for v in request.fixed.index_to_physical((size - 1) / 2.0))


def chain_with_initial(optimised: sitk.Transform, initial: Transform | None) -> Transform:
    """``initial(optimised(x))`` as a RegViewer transform (a private copy of the optimised state)."""
    current = transform_from_sitk(optimised)
    return current if initial is None else simplify(CompositeTransform([current, initial]))


class _SitkMethod:
    """Common run loop; subclasses provide the transform to optimise and the optimiser."""

    name = ""
    label = ""
    description = ""
    parameters: tuple[Parameter, ...] = ()
    preview_every = 10  # iterations between live-preview transforms

    def _initial_sitk_transform(self, request: Request, parameters: dict) -> sitk.Transform:
        raise NotImplementedError

    def _set_optimizer(self, method: sitk.ImageRegistrationMethod, parameters: dict) -> None:
        raise NotImplementedError

    def _set_initial(
        self, method: sitk.ImageRegistrationMethod, request: Request, transform: sitk.Transform, parameters: dict
    ) -> None:
        method.SetInitialTransform(transform, inPlace=True)

    def _set_sampling(self, method: sitk.ImageRegistrationMethod, request: Request, parameters: dict) -> None:
        """Methods that do not sample by ``sampling_percentage`` (set in configure_common) override this."""

    def _iteration_budget(self, parameters: dict) -> int:
        """Most iterations one level can report (for progress bars)."""
        return parameters["iterations"]

    def run(
        self, request: Request, progress: ProgressCallback = ignore_progress, cancel: CancelToken | None = None
    ) -> Result:
        cancel = cancel or CancelToken()
        started = time.perf_counter()
        parameters = self._resolve_automatic(request, resolve_parameters(self, request.parameters))
        check_pair(request)
        optimised = self._initial_sitk_transform(request, parameters)
        # ITK cannot optimise on top of a B-spline start: optimise on the moving image resampled
        # through it instead, and compose the start back at the end (``current``).
        working = (
            request
            if sitk_driver.chains_in_itk(request.initial_transform)
            else sitk_driver.resample_through_initial(request)
        )
        method = sitk.ImageRegistrationMethod()
        sitk_driver.configure_common(method, working, parameters)
        if working.initial_transform is not None:
            method.SetMovingInitialTransform(working.initial_transform.to_sitk())
        self._set_initial(method, working, optimised, parameters)
        self._set_sampling(method, working, parameters)
        self._set_optimizer(method, parameters)

        def current() -> Transform:
            return chain_with_initial(optimised, request.initial_transform)

        try:
            record = sitk_driver.execute(
                method,
                working,
                self.name,
                len(parameters["shrink_factors"]),
                self._iteration_budget(parameters),
                progress,
                cancel,
                current,
                self.preview_every,
            )
        except RuntimeError as error:  # ITK exceptions: too few samples, all points outside ...
            raise RegViewerError(f"{self.label} registration failed: {_itk_reason(error)}") from None
        status = "cancelled" if record.cancelled else "completed"
        message = "cancelled by the user" if record.cancelled else method.GetOptimizerStopConditionDescription()
        transform = current()
        log = [f"{self.label}: {status} after {len(record.history)} iterations; {message}"]
        problem = self._degenerate(optimised)
        if problem:
            transform = request.initial_transform or AffineTransform.identity(request.fixed.ndim)
            message = f"the {self.label.lower()} stage diverged ({problem}); kept its starting transform"
            log.append(f"warning: {message}")
        elif caution := self._suspicious(optimised):
            warning = (
                f"the {self.label.lower()} stage {caution}: check the result (with label maps loaded and used, "
                "the Dice before and after tells whether it helped)"
            )
            message += f"; {warning}"
            log.append(f"warning: {warning}")
        log.append(transform.describe())
        return Result(
            method=self.name,
            transform=transform,
            status=status,
            parameters=parameters,
            runtime_s=time.perf_counter() - started,
            metric_history=record.history,
            message=message,
            log=log,
        )

    def _degenerate(self, optimised: sitk.Transform) -> str:
        """Why the optimised transform is unusable (empty when it is fine)."""
        return ""

    def _suspicious(self, optimised: sitk.Transform) -> str:
        """Why the optimised transform, kept, deserves a warning (empty when it does not)."""
        return ""

    def _resolve_automatic(self, request: Request, parameters: dict) -> dict:
        """Replace "automatic" parameter values (documented as 0) by the values this request needs."""
        return parameters


def _itk_reason(error: RuntimeError) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    detail = next(
        (line for line in reversed(lines) if not line.startswith(("itk::", "sitk::"))), lines[-1] if lines else ""
    )
    if "Too many samples" in str(error) or "All samples map outside" in str(error):
        return "the images do not overlap enough after initialisation (check the inputs, masks or initial transform)"
    return detail[:200]


LINEAR_INIT_HELP = (
    "How to start when no initial transform is given: geometry aligns the image centres, moments the "
    "intensity centres of mass, none starts from identity."
)


def linear_parameters(metric: str = "mi") -> tuple[Parameter, ...]:
    return (
        sitk_driver.metric_parameter(metric),
        Parameter(
            "initialization",
            "choice",
            "geometry",
            "Initialisation",
            LINEAR_INIT_HELP,
            choices=("geometry", "moments", "none"),
        ),
        *sitk_driver.pyramid_parameters((4, 2, 1), (2.0, 1.0, 0.0)),
        Parameter("iterations", "int", 200, "Iterations", "Maximum optimiser iterations per level.", 1, 10000),
        sitk_driver.sampling_parameter(10.0),
        Parameter(
            "max_samples",
            "int",
            50000,
            "Maximum samples",
            "Upper bound on metric samples per level, whatever the percentage (large volumes).",
            100,
            10**9,
            expert=True,
        ),
        Parameter(
            "learning_rate",
            "float",
            0.0,
            "Step",
            "Initial step of the regular-step gradient descent, in mm of physical shift; 0 = one voxel of the fixed image.",
            0.0,
            100,
            unit="mm",
            expert=True,
        ),
    )


class _LinearMethod(_SitkMethod):
    parameters = linear_parameters()

    def _resolve_automatic(self, request: Request, parameters: dict) -> dict:
        if parameters["learning_rate"] == 0:
            parameters["learning_rate"] = float(np.mean(request.fixed.spacing))  # one voxel: scale-free steps
        return parameters

    def _degenerate(self, optimised: sitk.Transform) -> str:
        linear = transform_from_sitk(optimised)
        return linear_problem(linear.matrix) if isinstance(linear, AffineTransform) else ""

    def _suspicious(self, optimised: sitk.Transform) -> str:
        linear = transform_from_sitk(optimised)
        return implausible_scaling(linear.matrix) if isinstance(linear, AffineTransform) else ""

    def _new_transform(self, ndim: int) -> sitk.Transform:
        raise NotImplementedError

    def _initial_sitk_transform(self, request: Request, parameters: dict) -> sitk.Transform:
        transform = self._new_transform(request.fixed.ndim)
        if request.initial_transform is not None or parameters["initialization"] == "none":
            transform.SetCenter(fixed_centre(request))
            return transform
        mode = (
            sitk.CenteredTransformInitializerFilter.MOMENTS
            if parameters["initialization"] == "moments"
            else sitk.CenteredTransformInitializerFilter.GEOMETRY
        )
        initialised = sitk.CenteredTransformInitializer(
            sitk_driver.float_image(request.fixed), sitk_driver.float_image(request.moving), transform, mode
        )
        return initialised.Downcast() if hasattr(initialised, "Downcast") else initialised

    def _set_optimizer(self, method: sitk.ImageRegistrationMethod, parameters: dict) -> None:
        method.SetOptimizerAsRegularStepGradientDescent(
            learningRate=parameters["learning_rate"],
            minStep=1e-3,
            numberOfIterations=parameters["iterations"],
            relaxationFactor=0.5,
            gradientMagnitudeTolerance=1e-6,
        )
        method.SetOptimizerScalesFromPhysicalShift()


PLAUSIBLE_SCALE = 1.25  # a fitted affine scaling an axis by more than this (or less than its inverse) is worth a look


def implausible_scaling(matrix: np.ndarray) -> str:
    """Why a fitted linear map is suspicious though not rejected (``linear_problem``), or "".

    Between two images of one anatomy, an axis scaled by more than ``PLAUSIBLE_SCALE`` usually means a
    wrong fit that a similarity measure liked (MR -> ultrasound: the prostate pairs' affine scaled
    1.69 x 0.86 x 0.63 and the gland Dice fell to 0).
    """
    scales = np.linalg.svd(np.asarray(matrix, dtype=np.float64), compute_uv=False)
    if scales.min() >= 1.0 / PLAUSIBLE_SCALE and scales.max() <= PLAUSIBLE_SCALE:
        return ""
    return f"scales the image by {', '.join(f'{v:.2f}' for v in scales)} (volume x{float(np.prod(scales)):.2f})"


def linear_problem(matrix: np.ndarray, max_scale: float = 2.0) -> str:
    """A reason to reject a fitted linear map: a reflection, a collapse or an implausible scaling."""
    if not np.all(np.isfinite(matrix)):
        return "not finite"
    if np.linalg.det(matrix) <= 0:
        return "it mirrors or collapses the image"
    scales = np.linalg.svd(matrix, compute_uv=False)
    if scales.max() > max_scale or scales.min() < 1.0 / max_scale:
        return f"scales {np.round(scales, 2).tolist()} outside 1/{max_scale:g}..{max_scale:g}"
    return ""


class RigidMethod(_LinearMethod):
    name = "rigid"
    label = "Rigid"
    description = "Rotation and translation (6 degrees of freedom in 3D, 3 in 2D)."

    def _new_transform(self, ndim: int) -> sitk.Transform:
        return sitk.Euler3DTransform() if ndim == 3 else sitk.Euler2DTransform()


class SimilarityMethod(_LinearMethod):
    name = "similarity"
    label = "Similarity"
    description = "Rigid plus one isotropic scale."

    def _new_transform(self, ndim: int) -> sitk.Transform:
        return sitk.Similarity3DTransform() if ndim == 3 else sitk.Similarity2DTransform()


class AffineMethod(_LinearMethod):
    name = "affine"
    label = "Affine"
    description = "Rotation, translation, anisotropic scaling and shear (12 degrees of freedom in 3D)."

    def _new_transform(self, ndim: int) -> sitk.Transform:
        return sitk.AffineTransform(ndim)


class BSplineMethod(_SitkMethod):
    name = "bspline"
    label = "Deformable (B-spline)"
    description = (
        "Free-form deformation on a cubic B-spline control grid, refined coarse to fine (the control-point "
        "spacing halves at each level down to the chosen spacing), optimised with L-BFGS on a fixed number "
        "of random samples inside the fixed foreground. Run it after an affine stage (presets do)."
    )
    preview_every = 2
    parameters = (
        sitk_driver.metric_parameter("ncc"),
        Parameter(
            "mesh_spacing_mm",
            "float",
            24.0,
            "Control-point spacing",
            "Final distance between B-spline control points (coarser levels use 2x, 4x ...): smaller follows "
            "finer deformations but is slower and less regular.",
            2.0,
            500.0,
            unit="mm",
        ),
        *sitk_driver.pyramid_parameters((4, 2, 1), (2.0, 1.0, 0.0)),
        Parameter(
            "iterations",
            "int",
            7,
            "Iterations",
            "L-BFGS iterations per level (SimpleITK runs this budget twice per level, as a restart). Few on purpose: SimpleITK's B-spline has no smoothness penalty, "
            "and the iteration cap is what keeps the deformation regular (more iterations raise Dice on "
            "easy pairs but drive the Jacobian towards folding).",
            1,
            1000,
        ),
        Parameter(
            "samples",
            "int_list",
            (4000, 6000, 8000),
            "Samples per level",
            "Random metric samples per level inside the fixed mask (or the automatic foreground mask). The "
            "cost of an iteration grows with samples x control points, not with image size.",
            100,
            10_000_000,
            expert=True,
        ),
        Parameter(
            "auto_mask",
            "bool",
            True,
            "Foreground mask",
            "Without a fixed mask, sample the metric only where the fixed image is above 2 % of its "
            "intensity range (dilated by 3 mm), not in empty background.",
            expert=True,
        ),
    )

    def _levels(self, parameters: dict) -> int:
        levels = len(parameters["shrink_factors"])
        if len(parameters["samples"]) not in (1, levels):
            raise InputMismatchError(
                f"{len(parameters['samples'])} sample counts for {levels} levels: give one per level (or one for all)"
            )
        return levels

    def _initial_sitk_transform(self, request: Request, parameters: dict) -> sitk.Transform:
        geometry = request.fixed.geometry
        extent_mm = np.array(geometry.size) * geometry.spacing
        coarsest_mm = parameters["mesh_spacing_mm"] * 2 ** (self._levels(parameters) - 1)
        # Enough intervals that the spacing is at most ~the requested one (x2 per level after refinement).
        mesh = [max(1, int(np.ceil(e / coarsest_mm - 0.25))) for e in extent_mm]
        return sitk.BSplineTransformInitializer(geometry.empty_sitk(sitk.sitkFloat32), mesh, order=3)

    def _set_initial(
        self, method: sitk.ImageRegistrationMethod, request: Request, transform: sitk.Transform, parameters: dict
    ) -> None:
        levels = self._levels(parameters)
        method.SetInitialTransformAsBSpline(transform, inPlace=True, scaleFactors=[2**level for level in range(levels)])

    def _set_sampling(self, method: sitk.ImageRegistrationMethod, request: Request, parameters: dict) -> None:
        levels = self._levels(parameters)
        mask = request.fixed_mask
        if mask is None and parameters["auto_mask"]:
            mask = sitk_driver.foreground_mask(request.fixed)
            method.SetMetricFixedMask(sitk_driver.mask_image(mask, "fixed"))
        mask_fraction = float(np.mean(np.asarray(mask.array) > 0)) if mask is not None else 1.0
        counts = tuple(parameters["samples"]) * (levels if len(parameters["samples"]) == 1 else 1)
        fractions = sitk_driver.fractions_for_counts(
            counts, tuple(parameters["shrink_factors"]), request.fixed.geometry.size, mask_fraction
        )
        method.SetMetricSamplingStrategy(method.RANDOM)
        method.SetMetricSamplingPercentagePerLevel(fractions, sitk_driver.SEED)

    def _iteration_budget(self, parameters: dict) -> int:
        return 2 * parameters["iterations"]  # SimpleITK 2.5's L-BFGS2 runs the budget twice per level (a restart)

    def _set_optimizer(self, method: sitk.ImageRegistrationMethod, parameters: dict) -> None:
        # A fixed iteration budget: with solutionAccuracy 1e-9 and no delta test, L-BFGS neither stops at
        # once on small gradients (0..1 intensities) nor on the negative correlation cost.
        method.SetOptimizerAsLBFGS2(
            solutionAccuracy=1e-9,
            numberOfIterations=parameters["iterations"],
            hessianApproximateAccuracy=5,
            deltaConvergenceDistance=0,
            deltaConvergenceTolerance=1e-5,
            lineSearchMaximumEvaluations=40,
        )
