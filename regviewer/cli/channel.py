"""``--channel``: which channel of colour pictures is registered (register, render, the window command)."""

from __future__ import annotations

import argparse

CHANNELS = ("luminance", "red", "green", "blue")  # regviewer.core.colour.CHOICES (not imported: --help stays light)


def add_channel_argument(parser: argparse.ArgumentParser, what: str = "register") -> None:
    """Add ``--channel`` (checked by ``parse_colour_channel``, so that a wrong value is one line)."""
    parser.add_argument(
        "--channel",
        default="luminance",
        metavar="luminance|red|green|blue",
        help=f"colour pictures (e.g. fundus photographs): the channel to {what} (default luminance; green is "
        "the usual choice for fundus); they are still shown in colour. Grey images ignore it",
    )


def parse_colour_channel(value: str | None) -> str:
    """luminance (also for None), red, green or blue; RegViewerError in one line otherwise."""
    from regviewer.core.errors import RegViewerError

    if value is None:
        return "luminance"
    choice = value.strip().lower()
    if choice not in CHANNELS:
        raise RegViewerError(f"--channel {value}: choose one of {', '.join(CHANNELS)}")
    return choice
