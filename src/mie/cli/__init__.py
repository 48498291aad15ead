"""The ``mie`` command line."""
