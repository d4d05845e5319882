"""`python -m hume_ssl.cli` (e.g. under torchrun) runs the `hume-ssl` command line."""

from hume_ssl.cli.app import main

main()
