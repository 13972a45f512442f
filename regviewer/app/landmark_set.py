"""The landmarks of a window: one evented pair set per image dimension, and the landmark fit settings.

``LandmarkSet`` is the core set (``regviewer.core.landmarks``: pairs, names, active flags, undo)
with a psygnal ``changed`` event and ``snapshot`` / ``restore``. ``Landmarks`` keeps one set per
image dimension (loading 2D images never discards the 3D pairs) and the fit the live warp uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psygnal import Signal

from regviewer.core import landmarks as core_landmarks
from regviewer.core.landmark_fit import FIT_KINDS
from regviewer.core.landmarks import LandmarkPair

SNAPSHOT_VERSION = 1


class LandmarkSet(core_landmarks.LandmarkSet):
    """Pairs in LPS mm with undo (see core.landmarks) and a ``changed()`` event after every change."""

    changed = Signal()

    def __init__(self, ndim: int = 3, pairs=()) -> None:  # noqa: ANN001
        super().__init__(ndim, pairs)
        self.listeners.append(self.changed.emit)

    def snapshot(self) -> dict[str, Any]:
        pairs = [
            {
                "name": pair.name,
                "active": pair.active,
                "fixed": None if pair.fixed is None else list(pair.fixed),
                "moving": None if pair.moving is None else list(pair.moving),
            }
            for pair in self.pairs
        ]
        return {"version": SNAPSHOT_VERSION, "ndim": self.ndim, "pairs": pairs}

    def restore(self, data: Mapping[str, Any]) -> None:
        """Replace the pairs by a snapshot's (one undo step, so a restore can be undone)."""
        pairs = [
            LandmarkPair(
                str(item["name"]),
                bool(item.get("active", True)),
                None if item.get("fixed") is None else tuple(item["fixed"]),
                None if item.get("moving") is None else tuple(item["moving"]),
            )
            for item in data.get("pairs", [])
        ]
        self.replace_all(pairs, "open landmarks")


class Landmarks:
    """Landmark sets per dimension and the fit settings (see the module docstring).

    Events: ``fit_changed()`` after ``set_fit``.
    """

    fit_changed = Signal()

    def __init__(self) -> None:
        self.sets: dict[int, LandmarkSet] = {}
        self.fit_kind = "tps"
        self.regularisation = 0.0
        self.live = False

    def for_ndim(self, ndim: int) -> LandmarkSet:
        if ndim not in self.sets:
            self.sets[ndim] = LandmarkSet(ndim)
        return self.sets[ndim]

    def set_fit(self, kind: str | None = None, live: bool | None = None, regularisation: float | None = None) -> None:
        if kind is not None:
            if kind not in FIT_KINDS:
                raise ValueError(f"unknown landmark fit {kind!r}")
            self.fit_kind = kind
        if live is not None:
            self.live = bool(live)
        if regularisation is not None:
            self.regularisation = float(regularisation)
        self.fit_changed.emit()

    def snapshot(self) -> dict[str, Any]:
        return {
            "version": SNAPSHOT_VERSION,
            "fit_kind": self.fit_kind,
            "regularisation": self.regularisation,
            "live": self.live,
            "sets": [landmarks.snapshot() for landmarks in self.sets.values() if len(landmarks)],
        }

    def restore(self, data: Mapping[str, Any]) -> None:
        for item in data.get("sets", []):
            self.for_ndim(int(item["ndim"])).restore(item)
        self.set_fit(
            data.get("fit_kind", self.fit_kind),
            bool(data.get("live", self.live)),
            float(data.get("regularisation", self.regularisation)),
        )
