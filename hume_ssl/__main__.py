"""`python -m hume_ssl` and the `hume-ssl` script run the command line.

`main` loads the command line (torch with it, a few seconds) inside a handler, so that a Ctrl-C
while it loads ends with one line instead of Python's traceback; nothing before it loads torch.
"""

import sys


def main() -> None:
    """Runs the command line; a Ctrl-C before the command starts exits 130 with one line."""
    try:
        from hume_ssl.cli.app import main as run
    except KeyboardInterrupt:
        sys.stderr.write("interrupted while starting: nothing was done\n")
        raise SystemExit(130) from None
    run()


if __name__ == "__main__":
    main()
