"""``python -m regviewer`` runs the command line."""

import sys

from regviewer.cli import main

sys.exit(main())
