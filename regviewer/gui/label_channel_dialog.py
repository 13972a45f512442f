"""Ask how to read a label file with several channels (a 4D one-hot file): one channel, or the integer map.

``choose_label_channel(parent, path)`` returns the path itself for an ordinary label map (no
question), a ``LabelFile`` with the choice for a multi-channel file, or None when the user cancels.
The header alone is read to count the channels, so asking costs nothing noticeable.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QInputDialog, QWidget

from regviewer.core.io.label_channels import ONEHOT, LabelFile, channel_count

ONEHOT_TEXT = "Integer map from one-hot: channel k -> label k + 1, 0 where every channel is 0"


def channel_choices(count: int) -> list[tuple[str, object]]:
    """(text, channel) pairs offered for a file with ``count`` channels, the integer map first."""
    return [(ONEHOT_TEXT, ONEHOT)] + [(f"Channel {k} only (as a label map of its own values)", k) for k in range(count)]


def choose_label_channel(parent: QWidget | None, path: str | Path) -> str | LabelFile | None:
    """The path (one channel), a LabelFile (the user's choice) or None (cancelled); see the module docstring."""
    count = channel_count(path)
    if count <= 1:
        return str(path)
    choices = channel_choices(count)
    text, accepted = QInputDialog.getItem(
        parent,
        "Label map with several channels",
        f"{Path(path).name} holds {count} label volumes (one per structure).\nShow them as:",
        [text for text, _channel in choices],
        0,
        False,
    )
    if not accepted:
        return None
    channel = dict(choices)[text]
    return LabelFile(str(path), channel)
