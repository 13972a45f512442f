"""The ``stn-affine`` method: the network predicts an affine, a short optimisation refines it.

1. Both images are put on the network's square grid (the moving one through the initial transform,
   if any) and the network predicts ``theta`` in one pass (level 0 of the progress).
2. ``refine_iterations`` steps of Adam then adjust ``theta`` on a finer grid (``refine_size``) to
   maximise the normalised cross-correlation of the pair (level 1), with progress after each step
   and a cancel honoured between steps. 0 keeps the network's answer.

The result is an affine in mm (fixed -> moving), composed with the initial transform.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from regviewer.api import (
    CancelToken,
    CompositeTransform,
    ProgressEvent,
    Request,
    Result,
    ignore_progress,
    resolve_parameters,
)
from regviewer_stn.grids import on_grid, square_grid, theta_to_transform

BUNDLED = Path(__file__).resolve().parent / "weights" / "stn2d.pt"


def model_path(choice: str) -> Path:
    return BUNDLED if choice == "bundled" else Path(choice)


def run_stn(method, request: Request, progress=ignore_progress, cancel: CancelToken | None = None) -> Result:
    """Predict and refine (see the module notes); torch is imported here, on use.

    The tensors are small (one image pair): one thread is faster than several fighting over a
    busy machine, so torch runs single-threaded during the call (the setting is restored after)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run(method, request, progress, cancel)
    finally:
        torch.set_num_threads(threads)


def _run(method, request: Request, progress, cancel: CancelToken | None) -> Result:
    import torch

    from regviewer_stn.network import load_model, ncc_loss, warp_affine

    started = time.perf_counter()
    values = resolve_parameters(method, request.parameters)
    fixed, initial = request.fixed, request.initial_transform
    network, _ = load_model(model_path(values["model"]))
    grid = square_grid(fixed.geometry, network.config.size)

    def tensor(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array, np.float32))[None, None]

    def transform_of(theta: torch.Tensor):
        found = theta_to_transform(theta.detach().numpy()[0], grid)
        return found if initial is None else CompositeTransform([found, initial])

    with torch.no_grad():
        theta = network(tensor(on_grid(fixed, grid)), tensor(on_grid(request.moving, grid, initial)))
    levels = 2 if values["refine_iterations"] > 0 else 1
    progress(ProgressEvent(method.name, 0, levels, 0, None, "network prediction", transform_of(theta), 1))
    history, status, message = [], "completed", "network prediction"
    if levels == 2 and not (cancel is not None and cancel.cancelled):
        fine = square_grid(fixed.geometry, values["refine_size"])  # normalised coordinates are the same on both grids
        fixed_fine, moving_fine = tensor(on_grid(fixed, fine)), tensor(on_grid(request.moving, fine, initial))
        valid = torch.ones_like(moving_fine)
        theta = theta.clone().requires_grad_(True)
        optimiser = torch.optim.Adam([theta], lr=values["learning_rate"])
        count = values["refine_iterations"]
        for iteration in range(count):
            if cancel is not None and cancel.cancelled:
                status, message = "cancelled", f"cancelled after {iteration} refinement step(s)"
                break
            optimiser.zero_grad()
            mask = (warp_affine(valid, theta) > 0.99).float()
            loss = ncc_loss(warp_affine(moving_fine, theta), fixed_fine, mask)
            loss.backward()
            optimiser.step()
            value = loss.item()
            history.append((method.name, 1, iteration, value))
            preview = transform_of(theta) if iteration % 10 == 9 or iteration == count - 1 else None
            progress(
                ProgressEvent(
                    method.name, 1, 2, iteration, value, f"refinement {iteration + 1}/{count}", preview, count
                )
            )
        else:
            message = f"network prediction refined by {count} steps (1 - NCC = {history[-1][3]:.4f})"
    elif cancel is not None and cancel.cancelled:
        status, message = "cancelled", "cancelled after the network prediction"
    return Result(
        method.name, transform_of(theta), status, values, time.perf_counter() - started, tuple(history), message
    )
