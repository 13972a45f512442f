"""RegViewer: a desktop workbench for medical image registration.

Layers (see README, "Architecture"): ``regviewer.core`` is pure data and maths (no Qt, torch or vtk),
``regviewer.registration`` holds the engines, ``regviewer.gui`` the only Qt code, ``regviewer.cli``
the command line.
"""

__version__ = "0.1.0"
