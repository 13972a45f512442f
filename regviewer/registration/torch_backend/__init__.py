"""Torch building blocks for the learned and optimisation-based engines.

This package is the only part of RegViewer that imports torch at module top level. Nothing outside
it imports it eagerly: the method classes (``torch_opt.py``, ``network.py``) import it inside
``run()``, so that the GUI and the CLI start without loading torch.
"""
