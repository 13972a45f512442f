"""Entry point of the frozen (PyInstaller) application: one executable that is the app and its helpers.

A bundle has no ``python -m``: the child processes RegViewer starts (the registration engine, the
``--info`` probes) run the bundle's own executable with a first argument saying which helper to be:

- ``--engine-child``: the isolated registration engine (``regviewer.registration.isolated``; its
  ``child_argv()`` gives ``[sys.executable, "--engine-child"]`` when ``sys.frozen``);
- ``--info-probe NAME``: one probe of ``regviewer --info`` (``qt``, ``vtk`` or ``torch``);
- ``[-I] -m MODULE ARGS``: run a bundled module as ``python -m`` would (code that starts
  ``[sys.executable, "-m", ...]`` keeps working inside the bundle);
- anything else: the ``regviewer`` command (no arguments opens the main window).
"""

from __future__ import annotations

import multiprocessing
import sys

ENGINE_CHILD = "--engine-child"
INFO_PROBE = "--info-probe"
PYTHON_FLAGS = ("-I", "-u", "-B", "-E", "-s")  # interpreter options a caller may put before -m (no meaning here)


def _engine_child() -> int:
    from regviewer.registration import isolated

    isolated.main()  # ends the process itself (os._exit) once the result is sent
    return 0


def _info_probe(name: str) -> int:
    from regviewer.cli.info import run_probe

    return run_probe(name)


def _run_module(argv: list[str]) -> int:
    """``python [-I] -m MODULE ARGS`` inside the bundle: run MODULE as ``__main__`` with ``sys.argv`` = [MODULE, ARGS]."""
    import runpy

    while argv and argv[0] in PYTHON_FLAGS:
        argv = argv[1:]
    module, arguments = argv[1], argv[2:]
    sys.argv = [module, *arguments]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    return 0


def _is_python_module_call(argv: list[str]) -> bool:
    flags = 0
    while flags < len(argv) and argv[flags] in PYTHON_FLAGS:
        flags += 1
    return len(argv) >= flags + 2 and argv[flags] == "-m"


def main(argv: list[str] | None = None) -> int:
    """Dispatch on the first argument (see the module docstring); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if _is_python_module_call(argv):
        return _run_module(argv)
    if argv[:1] == [ENGINE_CHILD]:
        return _engine_child()
    if argv[:1] == [INFO_PROBE] and len(argv) == 2:
        return _info_probe(argv[1])
    from regviewer.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(main())
