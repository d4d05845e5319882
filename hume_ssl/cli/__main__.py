"""`python -m hume_ssl.cli` (e.g. under torchrun) runs the `hume-ssl` command line."""

from hume_ssl.cli import main

main()
