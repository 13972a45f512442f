"""The Qt (PySide6 + pyqtgraph) user interface: the only package that imports Qt."""
