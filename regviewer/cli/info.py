"""``regviewer --info``: what a user pastes into a bug report when the app misbehaves or will not start.

It must print even where Qt cannot start. Qt aborts its process when no platform plugin loads, a
broken OpenGL driver or a CUDA install can crash on first use, so Qt / OpenGL (``python -m
regviewer.gui.probe``), VTK and torch are each probed in a child process with a timeout; a child that
dies or hangs is reported as ``unavailable: <reason>``. The three children run at the same time.
Package versions come from the installed metadata, so nothing heavy is imported here.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from regviewer import __version__

PROBE_TIMEOUT_S = 30.0
# Distribution names to look up, first found wins (PySide6 installs as several distributions).
PACKAGES = {
    "numpy": ("numpy",),
    "scipy": ("scipy",),
    "SimpleITK": ("SimpleITK",),
    "nibabel": ("nibabel",),
    "PySide6": ("PySide6", "PySide6-Essentials"),
    "pyqtgraph": ("pyqtgraph",),
    "vtk": ("vtk",),
    "torch": ("torch",),
}
CHILD_PROBES = {
    "qt": [sys.executable, "-m", "regviewer.gui.probe"],
    "vtk": [sys.executable, "-m", "regviewer.cli.info", "--probe", "vtk"],
    "torch": [sys.executable, "-m", "regviewer.cli.info", "--probe", "torch"],
}


def _unavailable(error: BaseException) -> str:
    return f"unavailable: {type(error).__name__}: {error}"


def package_version(names: tuple[str, ...]) -> str:
    """Installed version of the first distribution found among ``names``, else ``not installed``."""
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        except Exception as error:  # a broken install's metadata
            return _unavailable(error)
    return "not installed"


def system_info() -> dict[str, str]:
    """RegViewer, Python, operating system and the display-related environment."""
    info = {
        "regviewer": __version__,
        "python": f"{platform.python_version()} ({platform.python_implementation()}, {sys.executable})",
        "platform": platform.platform(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
    }
    for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE"):
        info[f"env {name}"] = os.environ.get(name, "(not set)")
    return info


# ---- probes run in a child process -----------------------------------------------------------
def _read_back_red(window: object) -> str:
    from vtkmodules.vtkCommonCore import vtkUnsignedCharArray

    pixels = vtkUnsignedCharArray()
    window.GetPixelData(8, 8, 8, 8, 0, pixels, 0)  # type: ignore[attr-defined]
    rgb = tuple(int(v) for v in pixels.GetTuple(0))
    return (
        "ok (1 frame rendered and read back)" if rgb == (255, 0, 0) else f"rendered, but read back {rgb} instead of red"
    )


def vtk_probe() -> dict[str, str]:
    """VTK version, its render window class, and whether one off-screen frame renders (red background)."""
    from vtkmodules.vtkCommonCore import vtkVersion

    info = {"vtk": vtkVersion.GetVTKVersion()}
    try:
        import vtkmodules.vtkRenderingOpenGL2  # noqa: F401  (registers the OpenGL render window factory)
        from vtkmodules.vtkRenderingCore import vtkRenderer, vtkRenderWindow

        window = vtkRenderWindow()
        info["vtk render window"] = window.GetClassName()
        window.SetOffScreenRendering(1)
        window.SetSize(16, 16)
        renderer = vtkRenderer()
        renderer.SetBackground(1.0, 0.0, 0.0)
        window.AddRenderer(renderer)
        window.Render()
        info["vtk offscreen render"] = _read_back_red(window)
        for line in window.ReportCapabilities().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("OpenGL vendor string", "OpenGL renderer string", "OpenGL version string"):
                info["vtk " + key.strip().replace(" string", "")] = value.strip()
        window.Finalize()
    except Exception as error:
        info["vtk offscreen render"] = _unavailable(error)
    return info


def torch_probe() -> dict[str, str]:
    """torch version and the accelerators it sees (CUDA devices, Apple MPS)."""
    import torch

    info = {"torch": torch.__version__}
    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        info["torch cuda"] = f"available (CUDA {torch.version.cuda}): {', '.join(names)}"
    else:
        info["torch cuda"] = f"not available{' (CPU-only build)' if torch.version.cuda is None else ''}"
    mps = getattr(torch.backends, "mps", None)
    info["torch mps"] = "available" if mps is not None and mps.is_available() else "not available"
    return info


CHILD_FUNCTIONS: dict[str, Callable[[], dict[str, str]]] = {"vtk": vtk_probe, "torch": torch_probe}


def _child_main(name: str) -> int:
    try:
        info = CHILD_FUNCTIONS[name]()
    except ImportError as error:
        info = {name: f"not installed ({error})"}
    except Exception as error:
        info = {name: _unavailable(error)}
    print(json.dumps(info), flush=True)
    return 0


# ---- the parent side -------------------------------------------------------------------------
def _why_it_failed(returncode: int, stderr: str) -> str:
    """A one-line reason for a child that exited without its JSON line."""
    if returncode < 0:
        try:
            death = f"crashed ({signal.Signals(-returncode).name})"
        except ValueError:
            death = f"crashed (signal {-returncode})"
    else:
        death = f"exited with status {returncode}"
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    telling = [line for line in lines if line.startswith("qt.") or "rror" in line or "failed" in line] or lines[-2:]
    detail = " | ".join(telling)[:600]
    return f"{death}{': ' + detail if detail else ''}"


def _parse_child(name: str, returncode: int, stdout: str, stderr: str) -> dict[str, str]:
    for line in reversed(stdout.splitlines()):
        try:
            parsed = json.loads(line)
        except ValueError:
            continue
        if isinstance(parsed, dict):
            return {str(key): str(value) for key, value in parsed.items()}
    return {name: f"unavailable: the probe {_why_it_failed(returncode, stderr)}"}


def _child_environment(environment: dict[str, str] | None) -> dict[str, str]:
    """``environment`` (default: ours) with this regviewer first on PYTHONPATH, installed or not."""
    environment = dict(os.environ if environment is None else environment)
    package_parent = str(Path(__file__).resolve().parents[2])
    environment["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, environment.get("PYTHONPATH", "")) if p)
    return environment


def run_child_probes(
    names: tuple[str, ...] = tuple(CHILD_PROBES),
    timeout_s: float = PROBE_TIMEOUT_S,
    environment: dict[str, str] | None = None,
) -> dict[str, dict[str, str]]:
    """Run the named child probes at once; ``{name: its key -> value lines}``, never raising."""
    environment = _child_environment(environment)
    running: dict[str, subprocess.Popen[str] | str] = {}
    for name in names:
        try:
            running[name] = subprocess.Popen(
                CHILD_PROBES[name],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                errors="replace",
                env=environment,
                stdin=subprocess.DEVNULL,
            )
        except Exception as error:
            running[name] = _unavailable(error)
    results: dict[str, dict[str, str]] = {}
    for name, child in running.items():
        if isinstance(child, str):
            results[name] = {name: child}
            continue
        try:
            stdout, stderr = child.communicate(timeout=timeout_s)
            results[name] = _parse_child(name, child.returncode, stdout, stderr)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            results[name] = {name: f"unavailable: the probe did not answer within {timeout_s:g} s (hung)"}
    return results


def collect_info(timeout_s: float = PROBE_TIMEOUT_S) -> dict[str, str]:
    """Everything ``regviewer --info`` prints, as ``{key: value}`` strings in display order."""
    info = system_info()
    for label, names in PACKAGES.items():
        info[f"{label} (installed)"] = package_version(names)
    children = run_child_probes(timeout_s=timeout_s)
    info.update(children["qt"])
    if not os.environ.get("QT_QPA_PLATFORM") and info.get("qt", "").startswith("unavailable"):
        # Say why the default platform failed, then what Qt and OpenGL report off-screen.
        offscreen = run_child_probes(("qt",), timeout_s, {**os.environ, "QT_QPA_PLATFORM": "offscreen"})["qt"]
        info.update({f"{key} [offscreen]": value for key, value in offscreen.items()})
    info.update(children["vtk"])
    info.update(children["torch"])
    return info


def format_info(info: dict[str, str]) -> str:
    """Aligned ``key: value`` lines, ready to paste into a bug report."""
    width = max((len(key) for key in info), default=0)
    return "\n".join(f"{key + ':':<{width + 1}} {value}" for key, value in info.items())


def run_info() -> int:
    """Print the report (``regviewer --info``); always exit status 0 once printed."""
    print(format_info(collect_info()), flush=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--probe" and sys.argv[2] in CHILD_FUNCTIONS:
        sys.exit(_child_main(sys.argv[2]))
    sys.exit(run_info())
