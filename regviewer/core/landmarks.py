"""Paired landmarks with names and active flags, edited through an undo / redo stack (Qt-free).

A ``LandmarkPair`` is immutable: a name, an active flag (inactive pairs are kept and shown but not
fitted, e.g. held-out check points), a fixed point and a moving point in LPS mm, either of which may
be missing while the user is placing it. ``LandmarkSet`` holds the ordered pairs; every edit goes
through one method that records the state before and after, so every edit can be undone and redone.
A drag sends many moves of the same point: edits given the same ``merge_key`` collapse into one
undo step. Listeners (callables without arguments) are told after every change, which is how the
GUI's table and markers follow.

Errors of pairs under a transform and the fits are in ``landmark_fit.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from regviewer.core.errors import InputMismatchError

SIDES = ("fixed", "moving")
Point = tuple[float, ...]


def as_point(point: Sequence[float] | np.ndarray | None, ndim: int) -> Point | None:
    """A finite ndim-point as a tuple of floats (None stays None)."""
    if point is None:
        return None
    values = np.asarray(point, dtype=np.float64).reshape(-1)
    if values.size != ndim:
        raise InputMismatchError(f"a landmark of {ndim}D images needs {ndim} coordinates, got {values.size}")
    if not np.all(np.isfinite(values)):
        raise InputMismatchError("landmark coordinates must be finite numbers")
    return tuple(float(v) for v in values)


@dataclass(frozen=True)
class LandmarkPair:
    """One named pair; ``fixed`` / ``moving`` are LPS mm tuples or None while being placed."""

    name: str
    active: bool = True
    fixed: Point | None = None
    moving: Point | None = None

    @property
    def complete(self) -> bool:
        return self.fixed is not None and self.moving is not None

    def point(self, side: str) -> Point | None:
        return self.fixed if side == "fixed" else self.moving


@dataclass(frozen=True)
class _Edit:
    text: str
    before: tuple[LandmarkPair, ...]
    after: tuple[LandmarkPair, ...]
    merge_key: Hashable | None = None


class LandmarkSet:
    """Ordered landmark pairs of ``ndim``-D images with undo / redo."""

    def __init__(self, ndim: int = 3, pairs: Iterable[LandmarkPair] = ()) -> None:
        if ndim not in (2, 3):
            raise InputMismatchError(f"landmarks are 2D or 3D, got {ndim}D")
        self.ndim = ndim
        self._pairs: tuple[LandmarkPair, ...] = tuple(self._checked(pair) for pair in pairs)
        self._undo: list[_Edit] = []
        self._redo: list[_Edit] = []
        self.listeners: list[Callable[[], None]] = []

    # ---- reading ------------------------------------------------------------------------------
    @property
    def pairs(self) -> tuple[LandmarkPair, ...]:
        return self._pairs

    def __len__(self) -> int:
        return len(self._pairs)

    def __getitem__(self, index: int) -> LandmarkPair:
        return self._pairs[index]

    def complete_active(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row indices, fixed (N, ndim), moving (N, ndim)) of the complete active pairs."""
        rows = [i for i, pair in enumerate(self._pairs) if pair.active and pair.complete]
        return self._arrays(rows)

    def complete(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row indices, fixed, moving) of every complete pair, active or not."""
        return self._arrays([i for i, pair in enumerate(self._pairs) if pair.complete])

    def _arrays(self, rows: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        fixed = np.array([self._pairs[i].fixed for i in rows], dtype=np.float64).reshape(-1, self.ndim)
        moving = np.array([self._pairs[i].moving for i in rows], dtype=np.float64).reshape(-1, self.ndim)
        return np.array(rows, dtype=int), fixed, moving

    def next_incomplete(self, side: str) -> int | None:
        """First pair that lacks a point on ``side`` (pairs are completed in order), or None."""
        for index, pair in enumerate(self._pairs):
            if pair.point(side) is None:
                return index
        return None

    def new_name(self) -> str:
        """ "L<n>" with the smallest n not used yet."""
        used = {pair.name for pair in self._pairs}
        number = len(self._pairs) + 1
        while f"L{number}" in used:
            number += 1
        return f"L{number}"

    # ---- editing (each call is one undoable step) ---------------------------------------------
    def add_pair(self, fixed=None, moving=None, name: str | None = None, active: bool = True) -> int:
        """Append a pair (either point may be None); returns its row."""
        pair = LandmarkPair(name or self.new_name(), active, as_point(fixed, self.ndim), as_point(moving, self.ndim))
        self._apply(f"add {pair.name}", self._pairs + (pair,))
        return len(self._pairs) - 1

    def set_point(self, index: int, side: str, point, merge_key: Hashable | None = None) -> None:
        """Place or move one point of a pair (``merge_key``: consecutive edits with it undo as one)."""
        if side not in SIDES:
            raise ValueError(f"side must be one of {SIDES}")
        pair = self._pairs[index]
        changed = replace(pair, **{side: as_point(point, self.ndim)})
        self._apply(f"move {pair.name} ({side})", self._with(index, changed), merge_key)

    def rename(self, index: int, name: str) -> None:
        name = name.strip()
        if not name:
            raise InputMismatchError("a landmark name cannot be empty")
        self._apply(
            f"rename {self._pairs[index].name} to {name}", self._with(index, replace(self._pairs[index], name=name))
        )

    def set_active(self, index: int, active: bool) -> None:
        pair = self._pairs[index]
        self._apply(
            f"{'activate' if active else 'deactivate'} {pair.name}",
            self._with(index, replace(pair, active=bool(active))),
        )

    def delete(self, index: int) -> None:
        pair = self._pairs[index]
        self._apply(f"delete {pair.name}", self._pairs[:index] + self._pairs[index + 1 :])

    def move_row(self, index: int, new_index: int) -> None:
        """Reorder: the pair at ``index`` goes to ``new_index``."""
        pairs = list(self._pairs)
        pair = pairs.pop(index)
        pairs.insert(max(0, min(new_index, len(pairs))), pair)
        self._apply(f"reorder {pair.name}", tuple(pairs))

    def replace_all(self, pairs: Iterable[LandmarkPair], text: str = "replace landmarks") -> None:
        """Replace every pair at once (import, clear): one undo step."""
        self._apply(text, tuple(self._checked(pair) for pair in pairs))

    def clear(self) -> None:
        self.replace_all((), "clear landmarks")

    # ---- undo / redo --------------------------------------------------------------------------
    def can_undo(self) -> bool:
        return bool(self._undo)

    def can_redo(self) -> bool:
        return bool(self._redo)

    def undo_text(self) -> str:
        return self._undo[-1].text if self._undo else ""

    def redo_text(self) -> str:
        return self._redo[-1].text if self._redo else ""

    def undo(self) -> bool:
        if not self._undo:
            return False
        edit = self._undo.pop()
        self._redo.append(edit)
        self._set(edit.before)
        return True

    def redo(self) -> bool:
        if not self._redo:
            return False
        edit = self._redo.pop()
        self._undo.append(edit)
        self._set(edit.after)
        return True

    # ---- internals ----------------------------------------------------------------------------
    def _checked(self, pair: LandmarkPair) -> LandmarkPair:
        return replace(
            pair,
            fixed=as_point(pair.fixed, self.ndim),
            moving=as_point(pair.moving, self.ndim),
            name=str(pair.name),
            active=bool(pair.active),
        )

    def _with(self, index: int, pair: LandmarkPair) -> tuple[LandmarkPair, ...]:
        return self._pairs[:index] + (pair,) + self._pairs[index + 1 :]

    def _apply(self, text: str, after: tuple[LandmarkPair, ...], merge_key: Hashable | None = None) -> None:
        if after == self._pairs:
            return
        top = self._undo[-1] if self._undo else None
        if merge_key is not None and top is not None and top.merge_key == merge_key:
            self._undo[-1] = _Edit(top.text, top.before, after, merge_key)
        else:
            self._undo.append(_Edit(text, self._pairs, after, merge_key))
        self._redo.clear()
        self._set(after)

    def _set(self, pairs: tuple[LandmarkPair, ...]) -> None:
        self._pairs = pairs
        for listener in list(self.listeners):
            listener()
