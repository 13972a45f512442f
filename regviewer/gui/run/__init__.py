"""Registration runs in the GUI: parameter dock, background worker, run history and "Copy as command"."""
