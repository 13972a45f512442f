"""Subscribing Qt widgets to the events of the Qt-free model (regviewer.app, psygnal).

A psygnal connection outlives the C++ side of a widget; ``subscribe`` disconnects it when the
widget is destroyed, so a model event never reaches a deleted widget.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject


def subscribe(owner: QObject, signal: Any, slot: Callable) -> None:
    """Connect ``slot`` to the psygnal ``signal`` for as long as ``owner`` lives."""
    signal.connect(slot)

    def forget(*_args: Any) -> None:
        try:
            signal.disconnect(slot)
        except (ValueError, RuntimeError):
            pass

    owner.destroyed.connect(forget)
