"""The Jacobian map and folded regions written beside a registration's outputs (``regviewer register``).

metrics.json already holds the Jacobian statistics (min, max, % folded, std of log J, from
``evaluation.jacobian_figures``); this adds what a user needs to look at the folds: the map itself
(OUT/jacobian.nii.gz, float32 on the fixed grid, det <= 0 = folding) and the list of folded
regions, largest first, with their centres in LPS mm (the GUI's "Next fold" visits the same list).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from regviewer.core import deformation
from regviewer.core.image import Image
from regviewer.core.io import write_image
from regviewer.core.transforms import DisplacementFieldTransform

MAX_LISTED_FOLDS = 50


def write_jacobian_map(field: DisplacementFieldTransform, path: str | Path) -> tuple[Path, dict[str, Any]]:
    """Write det(dT/dx) of a field on its grid to ``path``; return the path and the fold summary.

    The summary is ``{"regions": count, "largest": [{"voxel_count", "centroid_mm", "min_jacobian"}, ...]}``
    (at most ``MAX_LISTED_FOLDS`` regions listed).
    """
    det = deformation.jacobian_determinant(field.displacement, field.geometry)
    written = write_image(Image(det.astype(np.float32), field.geometry, name="jacobian"), path)
    regions = deformation.fold_regions(det, field.geometry)
    listed = [
        {
            "voxel_count": region.voxel_count,
            "centroid_mm": [round(v, 3) for v in region.centroid_mm],
            "min_jacobian": region.min_jacobian,
        }
        for region in regions[:MAX_LISTED_FOLDS]
    ]
    return written, {"regions": len(regions), "largest": listed}
