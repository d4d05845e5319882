"""The `hume-ssl` command line (typer): parses, calls the Python API, prints.

`hume-ssl ...`, `python -m hume_ssl ...` (what torchrun launches, README) and `python -m
hume_ssl.cli ...` (README's earlier launch line; it loads the app before any handler, so a Ctrl-C
while it loads gives a traceback) run the same app.
"""

from hume_ssl.cli.app import app, main

__all__ = ["app", "main"]
