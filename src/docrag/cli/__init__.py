"""The ``docrag`` command line."""
