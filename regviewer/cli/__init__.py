"""Command line: ``regviewer register ...`` (headless) and, later, the GUI and batch commands.

Errors a user can cause end with one line on stderr and exit status 2 (no traceback unless
``--debug``). Heavy modules are imported inside the command functions so that ``--help`` is instant.
"""

from regviewer.cli.main import main

__all__ = ["main"]
