"""Import rules of the GUI layer: only regviewer.cli opens it, and the window starts without torch or vtk."""

import ast
import os
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "regviewer"


def _imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def test_only_the_cli_imports_the_gui():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] in ("gui", "cli") or relative.name == "__main__.py":
            continue
        if any(module == "regviewer.gui" or module.startswith("regviewer.gui.") for module in _imported_modules(path)):
            offenders.append(str(relative))
    assert offenders == []


def test_qt_is_imported_only_by_the_gui_package():
    qt = ("PySide6", "pyqtgraph", "shiboken6")
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.relative_to(PACKAGE).parts[0] != "gui"
        and any(module.split(".")[0] in qt for module in _imported_modules(path))
    ]
    assert offenders == []


def test_the_main_window_starts_without_torch_or_vtk():
    code = (
        "import sys\n"
        "from regviewer.gui.app import application\n"
        "from regviewer.gui.main_window import MainWindow\n"
        "app = application()\n"
        "window = MainWindow()\n"
        "window.open_sample('3d')\n"
        "window.show(); app.processEvents()\n"
        "print(','.join(m for m in ('torch', 'vtk', 'vtkmodules') if m in sys.modules) or 'none')\n"
        "sys.stdout.flush()\n"
        "import os; os._exit(0)\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(PACKAGE.parent)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "none"
