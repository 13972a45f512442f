"""Files RegViewer needs at run time: sample data, bundled models, colour tables and the application icon.

A package (not a loose folder) so that wheels, sdists, editable installs and frozen bundles all carry it, and
``regviewer.paths`` finds it with ``importlib.resources`` wherever the package was installed.
"""
