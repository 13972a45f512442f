"""Script PyInstaller freezes into the ``regviewer`` executable (see regviewer.frozen for what it dispatches)."""

import multiprocessing
import sys

from regviewer.frozen import main

if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(main())
