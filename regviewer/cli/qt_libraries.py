"""Which system libraries Qt's X11 (xcb) platform plugin needs and cannot find (Linux, ``regviewer --info``).

When the xcb plugin cannot load, Qt 6 always prints "xcb-cursor0 or libxcb-cursor0 is needed", whatever is
really missing (on a bare Debian desktop: libxcb-icccm4 and libxcb-keysyms1). ``ldd`` on the plugin lists
every library the dynamic loader cannot find, so the report names those, with the Debian/Ubuntu packages.
Nothing here imports Qt (its plugin file is located through the package's import spec).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

# soname -> Debian / Ubuntu package of the libraries Qt's xcb plugin and Qt itself load from the system.
DEBIAN_PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-glx.so.0": "libxcb-glx0",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libGLX.so.0": "libglx0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
}
NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.MULTILINE)


def missing_from_ldd(ldd_output: str) -> list[str]:
    """The sonames ``ldd`` reported as "not found", in order, without repeats."""
    return list(dict.fromkeys(NOT_FOUND.findall(ldd_output)))


def xcb_plugin() -> Path | None:
    """Qt's xcb platform plugin inside the installed (or bundled) PySide6, or None."""
    try:
        spec = importlib.util.find_spec("PySide6")
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        for candidate in (
            Path(folder) / "Qt" / "plugins" / "platforms" / "libqxcb.so",
            Path(folder) / "plugins" / "platforms" / "libqxcb.so",
        ):
            if candidate.is_file():
                return candidate
    return None


def describe_missing(sonames: list[str]) -> str:
    """``missing: <soname> ...; Debian/Ubuntu: apt-get install <packages>`` (or ``all found``)."""
    if not sonames:
        return "all found"
    packages = list(dict.fromkeys(DEBIAN_PACKAGES.get(name, name) for name in sonames))
    return f"missing {', '.join(sonames)} (Debian/Ubuntu: sudo apt-get install {' '.join(packages)})"


def xcb_libraries_report(timeout_s: float = 20.0) -> str | None:
    """One line for ``--info`` about the xcb plugin's system libraries; None where it does not apply."""
    if not sys.platform.startswith("linux"):
        return None
    plugin = xcb_plugin()
    if plugin is None:
        return "not checked (Qt's xcb platform plugin was not found)"
    ldd = shutil.which("ldd")
    if ldd is None:
        return "not checked (ldd is not installed)"
    try:
        completed = subprocess.run(
            [ldd, str(plugin)],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout_s,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError) as error:
        return f"not checked (ldd failed: {error})"
    return describe_missing(missing_from_ldd(completed.stdout + completed.stderr))
