"""Reading the window's saved settings (QSettings) so that a corrupt value can never stop the app.

A settings file edited by hand, written by another version or damaged on disk can hold a value of
the wrong type (an int where a list of strings belongs). Every read goes through these helpers: a
bad value is ignored with a notice in the log, removed from the file, and the default is used.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QSettings

logger = logging.getLogger("regviewer.gui")


def _ignore(settings: QSettings, key: str, value: object) -> None:
    logger.warning("ignored a bad value in the settings file %s: %s = %r", settings.fileName(), key, value)
    settings.remove(key)


def string_list(settings: QSettings, key: str) -> list[str]:
    """The list of strings stored under ``key`` ([] when absent or not a list of strings)."""
    try:
        value = settings.value(key, [])
    except Exception as error:  # noqa: BLE001 (an undecodable value in the file)
        _ignore(settings, key, error)
        return []
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return list(value)
    _ignore(settings, key, value)
    return []


def text(settings: QSettings, key: str, default: str) -> str:
    """The string stored under ``key`` (``default`` when absent or not a string)."""
    try:
        value = settings.value(key, default)
    except Exception as error:  # noqa: BLE001
        _ignore(settings, key, error)
        return default
    if isinstance(value, str):
        return value
    if value is not None:
        _ignore(settings, key, value)
    return default
