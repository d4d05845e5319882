"""The `hume-ssl` command line (typer): parses, calls the Python API, prints.

`hume-ssl ...` and `python -m hume_ssl.cli ...` (what torchrun launches) run the same app.
`main` imports the app itself (torch with it, a few seconds), so that a Ctrl-C while it loads
ends with one line instead of Python's traceback.
"""

import sys

__all__ = ["app", "main"]


def main() -> None:
    """Runs the command line; a Ctrl-C before the command starts exits 130 with one line."""
    try:
        from hume_ssl.cli.app import main as run
    except KeyboardInterrupt:
        sys.stderr.write("interrupted while starting: nothing was done\n")
        raise SystemExit(130) from None
    run()


def __getattr__(name: str):
    if name == "app":  # the typer app, for tests and embedding
        from hume_ssl.cli.app import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
