"""Dockable panels of the main window (image information, and later landmarks, parameters, metrics)."""
