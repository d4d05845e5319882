"""`python -m hume_ssl` runs the `hume-ssl` command line."""

from hume_ssl.cli import main

if __name__ == "__main__":
    main()
