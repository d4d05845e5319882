"""The two consoles: messages and progress on stderr, results on stdout; never wrapped, so a
script can read the paths they print."""

from rich.console import Console

console = Console(stderr=True, soft_wrap=True)  # messages, progress, errors
out_console = Console(soft_wrap=True)  # results: tables, paths
