"""NIfTI reading and writing through nibabel, with the RAS <-> LPS conversion done here only.

NIfTI stores an affine from voxel index (i, j, k) to RAS+ millimetres; ITK (and RegViewer) use LPS.
``A_lps = diag(-1, -1, 1, 1) @ A_ras``; spacing is the column norms of its 3x3 part, the direction
its normalised columns, the origin its last column. nibabel arrays are (i, j, k) and are transposed
to RegViewer's (k, j, i).

Which affine (matching ITK's NiftiImageIO, so that SimpleITK, Slicer and ANTs place voxels where we do):

- the sform when ``sform_code > 0``; the qform when only ``qform_code > 0``;
- a sheared (non-orthogonal) sform is replaced by the qform when there is one (ITK does the same);
  otherwise by the closest rotation (polar decomposition) with a notice saying how far voxels move
  (ITK refuses such files; we read them);
- no orientation at all (both codes 0): pixdim spacing, identity LPS direction and origin 0, exactly
  what ITK reads (nibabel's fallback affine would flip x and centre the volume instead);
- spatial units: metres and microns are converted to mm as ITK does (nibabel leaves them alone);
  "unknown" units are taken as mm.

Writing sets sform and qform to the same affine with code 1 ("scanner anatomical"): our LPS space is
the world space of the file we read, not an alignment to another image (code 2) or a template
(codes 3, 4); ITK writes code 1 as well, so every tool reads our files the same way.
"""

from __future__ import annotations

import os
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.imageglobals import LoggingOutputSuppressor
from nibabel.openers import ImageOpener

from regviewer.core.errors import ImageReadError, InvalidImageError
from regviewer.core.image import Geometry, Image
from regviewer.core.io._common import (
    check_channel_unused,
    colour_to_grey,
    logger,
    portable_array,
    select_channel,
)

RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])
_ORTHOGONALITY_TOLERANCE = 1e-4
_XFORM_SCANNER_ANAT = 1
_MM_PER_UNIT = {"meter": 1000.0, "mm": 1.0, "micron": 1e-3, "unknown": 1.0}


def _raw_header(path: Path) -> nib.Nifti1Header:
    """The header exactly as stored (nibabel's loader silently replaces a zero pixdim by 1)."""
    with ImageOpener(str(path)) as handle:
        block = handle.read(540)
    if len(block) < 348:
        raise ImageReadError(f"not a NIfTI file: only {len(block)} header bytes (348 expected)")
    for header_class in (nib.Nifti1Header, nib.Nifti2Header):
        size = header_class.sizeof_hdr
        for order in ("little", "big"):
            if int.from_bytes(block[:4], order) == size and len(block) >= size:
                return header_class(binaryblock=block[:size], check=False)
    raise ImageReadError("not a NIfTI file (bad header size field)")


def _check_pixdim(header: nib.Nifti1Header) -> None:
    n_spatial = int(min(max(int(header["dim"][0]), 1), 3))
    voxel_size = np.asarray(header["pixdim"][1 : n_spatial + 1], dtype=np.float64)
    if not np.all(np.isfinite(voxel_size)) or np.any(voxel_size <= 0):
        raise InvalidImageError(
            f"zero or negative voxel size in the header (pixdim {tuple(float(v) for v in voxel_size)})"
        )


def _world_matrix(header: nib.Nifti1Header, source: str) -> np.ndarray | None:
    """The RAS affine ITK would use, or None when the header has no orientation (both codes 0)."""
    sform_code, qform_code = int(header["sform_code"]), int(header["qform_code"])
    if sform_code > 0:
        sform = header.get_sform()
        if _shear(sform) <= _ORTHOGONALITY_TOLERANCE or qform_code <= 0:
            return sform
        logger.warning("%s: the sform is not orthogonal (sheared); using the qform instead, as ITK does", source)
    if qform_code > 0:
        return header.get_qform()
    logger.info("%s: no orientation in the header (qform and sform codes 0): identity direction, origin 0", source)
    return None


def _shear(affine: np.ndarray) -> float:
    matrix = np.asarray(affine, dtype=np.float64)[:3, :3]
    norms = np.linalg.norm(matrix, axis=0)
    if np.any(norms <= 0):
        return 0.0  # degenerate: reported as zero spacing later
    direction = matrix / norms
    return float(np.max(np.abs(direction.T @ direction - np.eye(3))))


def _geometry_from_affine(affine_ras: np.ndarray, shape_zyx: tuple[int, ...], source: str) -> Geometry:
    """Geometry (LPS) of an array of numpy shape ``shape_zyx`` (2 or 3 axes) placed by ``affine_ras``.

    A 2D image keeps the x and y rows of its first two affine columns, which is what ITK reads:
    its physical (x, y) positions equal the first two coordinates of the 3D ones.
    """
    ndim = len(shape_zyx)
    affine_lps = RAS_TO_LPS @ np.asarray(affine_ras, dtype=np.float64)
    columns, origin = affine_lps[:3, :ndim], affine_lps[:3, 3]
    spacing = np.linalg.norm(columns, axis=0)
    if not np.all(np.isfinite(affine_lps)) or np.any(spacing <= 1e-12):
        raise InvalidImageError("the header affine has a zero voxel size (degenerate sform/qform)")
    direction = columns / spacing  # 3 x ndim
    shear = float(np.max(np.abs(direction.T @ direction - np.eye(ndim))))
    if shear > _ORTHOGONALITY_TOLERANCE:
        left, _, right = np.linalg.svd(direction, full_matrices=False)
        rotation = left @ right
        corners = np.array(np.meshgrid(*[[0, n - 1] for n in shape_zyx[::-1]])).reshape(ndim, -1)
        moved = float(np.max(np.linalg.norm((rotation - direction) @ np.diag(spacing) @ corners, axis=0)))
        logger.warning(
            "%s: the header affine is not orthogonal (shear %.3g); using the closest rotation "
            "(polar decomposition): voxels move by up to %.3g mm",
            source,
            shear,
            moved,
        )
        direction = rotation
    if ndim == 3:
        return Geometry(shape=shape_zyx, spacing=spacing, origin=origin, direction=direction)
    planar = direction[:2, :2]
    if abs(np.linalg.det(planar)) < 0.5:
        logger.warning("%s: this 2D image lies in a plane far from axial; using an in-plane identity direction", source)
        planar = np.eye(2)
    elif not np.allclose(planar.T @ planar, np.eye(2), atol=_ORTHOGONALITY_TOLERANCE):
        logger.warning(
            "%s: this 2D image lies in a tilted plane; its (x, y) positions are kept (as ITK reads them)", source
        )
    return Geometry(shape=shape_zyx, spacing=spacing, origin=origin[:2], direction=planar)


def _spatial_data(data: np.ndarray, channel: int | None) -> np.ndarray:
    """Drop singleton time/component axes; pick ``channel`` of a 4D (or vector) image."""
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    what = "volume"
    if data.ndim == 5 and data.shape[3] == 1:  # NIfTI vector images: (x, y, z, 1, components)
        data, what = data[:, :, :, 0, :], "component"
    if data.ndim == 4:
        count = data.shape[3]
        if channel is None:
            raise InvalidImageError(
                f"4D image (shape {data.shape}, {count} {what}s): RegViewer reads 2D or 3D images; "
                f"pick one {what} with channel=k (0..{count - 1})"
            )
        return select_channel(data, channel, count, what)
    if data.ndim > 4:
        raise InvalidImageError(f"{data.ndim}D image (shape {data.shape}) is not supported")
    check_channel_unused(channel)
    return data


def read_nifti(path: Path, *, channel: int | None = None, is_label: bool = False) -> Image:
    """Read a .nii / .nii.gz file into an LPS Image (see the module notes for the affine rules).

    Args:
        path: the file.
        channel: for a 4D file, the volume to read (for a vector file, the component).
        is_label: only used to refuse blending colour channels of a label map.
    """
    header = _raw_header(path)
    _check_pixdim(header)
    with LoggingOutputSuppressor():  # nibabel's header fixes (qfac 0 -> 1 ...) are benign; keep stderr quiet
        nifti = nib.load(str(path), mmap=False)
    data = np.asanyarray(nifti.dataobj)
    if data.dtype.names:  # RGB24 / RGBA32 structured voxels
        data = np.stack([data[name] for name in data.dtype.names], axis=-1)
        if channel is None:
            data = colour_to_grey(data, str(path), is_label)
        else:
            data = select_channel(data, channel, data.shape[-1], "colour component")
        channel = None
    if np.iscomplexobj(data):
        raise InvalidImageError("complex-valued voxels are not supported")
    data = _spatial_data(data, channel)
    if data.ndim < 2:
        raise InvalidImageError(f"{data.ndim}D data (shape {data.shape}): expected a 2D or 3D image")
    array = np.ascontiguousarray(data.T)  # (i, j[, k]) -> (k, j, i)
    unit = nifti.header.get_xyzt_units()[0]
    mm_per_unit = _MM_PER_UNIT.get(unit, 1.0)
    if mm_per_unit != 1.0:
        logger.info("%s: spatial unit is %s: converted to mm (x %g), as ITK does", path, unit, mm_per_unit)
    affine = _world_matrix(nifti.header, str(path))
    if affine is None:
        spacing = np.asarray(nifti.header["pixdim"][1 : array.ndim + 1], dtype=np.float64) * mm_per_unit
        geometry = Geometry(shape=array.shape, spacing=spacing, origin=np.zeros(array.ndim))
    else:
        scaled = np.array(affine, dtype=np.float64)
        scaled[:3, :] *= mm_per_unit
        geometry = _geometry_from_affine(scaled, array.shape, str(path))
    return Image(array, geometry, name=path.name, is_label=is_label)


def ras_affine(geometry: Geometry) -> np.ndarray:
    """The 4x4 NIfTI (RAS) affine of a geometry; a 2D geometry is placed in the plane z = 0."""
    ndim = geometry.ndim
    affine_lps = np.eye(4)
    affine_lps[:ndim, :ndim] = geometry.direction @ np.diag(geometry.spacing)
    affine_lps[:ndim, 3] = geometry.origin
    return RAS_TO_LPS @ affine_lps


def write_nifti(image: Image, path: str | os.PathLike[str]) -> None:
    """Write ``image`` as NIfTI-1 with sform and qform both set (code 1, scanner anatomical)."""
    data = portable_array(image.array).T  # (k, j, i) -> (i, j, k)
    affine = ras_affine(image.geometry)
    nifti = nib.Nifti1Image(data, affine, dtype=data.dtype)
    nifti.set_sform(affine, code=_XFORM_SCANNER_ANAT)
    nifti.set_qform(affine, code=_XFORM_SCANNER_ANAT)
    nifti.header.set_xyzt_units(xyz="mm")
    nib.save(nifti, str(path))
