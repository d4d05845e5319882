"""The `hume-ssl` command line (typer): parses, calls the Python API, prints.

`hume-ssl ...` and `python -m hume_ssl.cli ...` (what torchrun launches) run the same app.
"""

from hume_ssl.cli.app import app, main

__all__ = ["app", "main"]
