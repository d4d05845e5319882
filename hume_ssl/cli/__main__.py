"""`python -m hume_ssl.cli` runs the `hume-ssl` command line (README's earlier torchrun line;
`python -m hume_ssl` is the one README gives: it also turns a Ctrl-C while loading into a line)."""

from hume_ssl.cli.app import main

main()
