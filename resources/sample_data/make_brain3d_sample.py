"""Build the bundled 3D sample pair (resources/sample_data/brain3d/) from the shared brain3d scan.

The pair exercises what a viewer must get right: the two images sit on DIFFERENT grids (spacing,
origin and a tilted direction), and the moving one is deformed by a known, smooth transform.

- fixed: ``test_scan.npz`` (VoxelMorph, 160x192x224, 1 mm, index axes Left / Inferior / Anterior) lightly
  smoothed, reoriented to LPS and resampled to 2 mm (80x112x96), centred on the origin, stored as uint8 NIfTI; fixed labels likewise (nearest).
- truth (fixed -> moving, ITK convention): ``x -> A(B(x))`` where B is a smooth B-spline warp
  (max 3.5 mm) on the fixed grid and A an affine (rotation (4, -3, 5) deg, scales (1.04, 0.97, 1.02),
  translation (5, -4, 3) mm) about the image centre. Written as ``fixed_to_moving.tfm``.
- moving: ``moving(y) = scan(truth^-1(y))`` sampled on its own grid: spacing (2.2, 2.0, 2.5) mm,
  a direction rotated by (2, -3, 8) deg, a different origin; moving labels likewise (nearest).

So ``moving(truth(x)) = fixed(x)``: a perfect registration result equals ``fixed_to_moving.tfm``.

usage: python resources/sample_data/make_brain3d_sample.py [SHARED_BRAIN3D_DIR] [OUT_DIR]
(defaults: ../shared/data/brain3d beside the repository, and resources/sample_data/brain3d).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy.ndimage import gaussian_filter

REPOSITORY = Path(__file__).resolve().parents[2]
if str(REPOSITORY) not in sys.path:  # run from a source checkout without installing regviewer
    sys.path.insert(0, str(REPOSITORY))

from regviewer.core.image import Geometry, Image  # noqa: E402
from regviewer.core.io import read_image, write_image  # noqa: E402
from regviewer.core.io.transforms_io import write_transform  # noqa: E402
from regviewer.core.resample import resample_image  # noqa: E402
from regviewer.core.transforms import AffineTransform, BSplineTransform, CompositeTransform, Transform  # noqa: E402

SEED = 20240611
FIXED_SPACING_MM = (2.0, 2.0, 2.0)
MOVING_SPACING_MM = (2.2, 2.0, 2.5)
MOVING_DIRECTION_DEG = (2.0, -3.0, 8.0)
AFFINE_ROTATION_DEG = (4.0, -3.0, 5.0)
AFFINE_SCALES = (1.04, 0.97, 1.02)
AFFINE_TRANSLATION_MM = (5.0, -4.0, 3.0)
WARP_MAX_MM = 3.5
WARP_MESH = 6  # B-spline mesh cells per axis over the fixed image
ANTIALIAS_SIGMA_VOXELS = 0.8  # Gaussian smoothing of the 1 mm scan before sampling it at 2 mm

DEFAULT_SOURCE = REPOSITORY.parent / "shared" / "data" / "brain3d"
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "brain3d"


def rotation(degrees_xyz: tuple[float, float, float]) -> np.ndarray:
    """Rotation Rz @ Ry @ Rx for angles (degrees) about x, y and z."""
    ax, ay, az = np.radians(degrees_xyz)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


# The scan's index axes run Left, Inferior, Anterior (FreeSurfer's conformed "LIA"), although the npz
# format stores no geometry. Column c: the LPS direction of fixed axis c in scan index axes, so that
# the fixed image is anatomically oriented (axial / coronal / sagittal views show what they say).
LPS_IN_SCAN_AXES = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, -1.0, 0.0]])


def fixed_geometry(scan: Image) -> Geometry:
    """The 2 mm LPS grid covering the scan, centred on the physical origin, identity direction."""
    extent_mm = np.abs(LPS_IN_SCAN_AXES.T) @ (np.array(scan.geometry.size) * scan.spacing)
    size = np.round(extent_mm / FIXED_SPACING_MM).astype(int)
    origin = -(size - 1) / 2.0 * np.array(FIXED_SPACING_MM)
    return Geometry(tuple(size[::-1].tolist()), FIXED_SPACING_MM, origin)


def fixed_to_scan(scan: Image) -> AffineTransform:
    """Fixed-frame LPS points (centred on 0) -> the scan's own frame (reoriented from LIA, shifted to its centre)."""
    centre = scan.index_to_physical((np.array(scan.geometry.size) - 1) / 2.0)
    return AffineTransform(LPS_IN_SCAN_AXES, centre)


def smooth_warp(geometry: Geometry, rng: np.random.Generator) -> BSplineTransform:
    """A random cubic B-spline warp over ``geometry`` with max |u| = WARP_MAX_MM, fading at the border.

    The two outer layers of control points are zero, so the displacement falls to ~0 at the image edge.
    """
    reference = geometry.empty_sitk()
    bspline = sitk.BSplineTransformInitializer(reference, [WARP_MESH] * 3, order=3)
    points = WARP_MESH + 3
    coefficients = rng.standard_normal((3, points, points, points))
    coefficients[:, :2], coefficients[:, -2:] = 0.0, 0.0
    coefficients[:, :, :2], coefficients[:, :, -2:] = 0.0, 0.0
    coefficients[:, :, :, :2], coefficients[:, :, :, -2:] = 0.0, 0.0
    bspline.SetParameters(tuple(coefficients.reshape(-1)))
    field = sitk.TransformToDisplacementField(
        bspline,
        sitk.sitkVectorFloat64,
        reference.GetSize(),
        reference.GetOrigin(),
        reference.GetSpacing(),
        reference.GetDirection(),
    )
    largest = float(np.linalg.norm(sitk.GetArrayViewFromImage(field), axis=-1).max())
    bspline.SetParameters(tuple(coefficients.reshape(-1) * (WARP_MAX_MM / largest)))
    return BSplineTransform(bspline)


def true_fixed_to_moving(geometry: Geometry, rng: np.random.Generator) -> CompositeTransform:
    """x -> A(B(x)): the smooth warp, then the affine about the fixed image's centre."""
    matrix = rotation(AFFINE_ROTATION_DEG) @ np.diag(AFFINE_SCALES)
    centre = geometry.index_to_physical((np.array(geometry.size) - 1) / 2.0)
    affine = AffineTransform(matrix, centre - matrix @ centre + np.array(AFFINE_TRANSLATION_MM))
    return CompositeTransform([smooth_warp(geometry, rng), affine])


def moving_geometry(fixed: Geometry, truth: Transform) -> Geometry:
    """A tilted grid with its own spacing that holds the whole fixed image once moved by ``truth``."""
    direction = rotation(MOVING_DIRECTION_DEG)
    corners = np.array(np.meshgrid(*[[0, n - 1] for n in fixed.size], indexing="ij")).reshape(3, -1).T
    moved = truth.transform_points(fixed.index_to_physical(corners.astype(float)))
    in_grid_axes = moved @ direction  # coordinates along the moving grid's axes
    low, high = in_grid_axes.min(axis=0), in_grid_axes.max(axis=0)
    spacing = np.array(MOVING_SPACING_MM)
    size = np.ceil((high - low) / spacing).astype(int) + 1
    origin = direction @ low
    return Geometry(tuple(size[::-1].tolist()), spacing, origin, direction)


def to_uint8(image: Image) -> Image:
    """Intensities 0..1 -> 0..255 (rounded, clipped)."""
    return image.with_array(np.clip(np.rint(image.array * 255.0), 0, 255).astype(np.uint8))


def inverse_error_mm(
    truth: Transform, inverse: Transform, geometry: Geometry, count: int = 2000, seed: int = 0
) -> float:
    """Largest |truth(inverse(y)) - y| over random voxel centres of the moving grid's central region."""
    rng = np.random.default_rng(seed)
    size = np.array(geometry.size)
    index = rng.uniform(0.2, 0.8, (count, 3)) * (size - 1)
    points = geometry.index_to_physical(index)
    return float(np.max(np.linalg.norm(truth.transform_points(inverse.transform_points(points)) - points, axis=1)))


def build(source: Path, output: Path) -> dict[str, object]:
    """Write the sample pair into ``output``; return a summary of what was written."""
    rng = np.random.default_rng(SEED)
    npz = source / "test_scan.npz"
    scan = read_image(npz)
    scan = scan.with_array(gaussian_filter(scan.array.astype(np.float32), ANTIALIAS_SIGMA_VOXELS))
    labels = read_image(npz, is_label=True)
    if int(labels.array.max()) > 255:
        raise SystemExit("labels above 255 do not fit uint8")
    labels = labels.with_array(labels.array.astype(np.uint8))

    fixed_grid = fixed_geometry(scan)
    to_scan = fixed_to_scan(scan)
    truth = true_fixed_to_moving(fixed_grid, rng)
    moving_grid = moving_geometry(fixed_grid, truth)
    moving_to_fixed = truth.inverse()
    moving_to_scan = CompositeTransform([moving_to_fixed, to_scan])

    images = {
        "fixed.nii.gz": to_uint8(resample_image(scan, fixed_grid, to_scan, "linear")),
        "fixed_labels.nii.gz": resample_image(labels, fixed_grid, to_scan, "label"),
        "moving.nii.gz": to_uint8(resample_image(scan, moving_grid, moving_to_scan, "linear")),
        "moving_labels.nii.gz": resample_image(labels, moving_grid, moving_to_scan, "label"),
    }
    output.mkdir(parents=True, exist_ok=True)
    for name, image in images.items():
        write_image(image, output / name)
    write_transform(truth, output / "fixed_to_moving.tfm")
    shutil.copyfile(source / "LICENSE.md", output / "LICENSE.md")
    return {
        "fixed": fixed_grid.describe(),
        "moving": moving_grid.describe(),
        "inverse_error_mm": round(inverse_error_mm(truth, moving_to_fixed, moving_grid), 4),
        "bytes": sum(path.stat().st_size for path in output.iterdir()),
    }


def main(argv: list[str]) -> None:
    source = Path(argv[1]) if len(argv) > 1 else DEFAULT_SOURCE
    output = Path(argv[2]) if len(argv) > 2 else DEFAULT_OUTPUT
    for key, value in build(source, output).items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main(sys.argv)
