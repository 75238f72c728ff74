"""The ``journalloft`` command line (:func:`main`); each group of commands in its own module."""

from journalloft.cli.main import main

__all__ = ["main"]
