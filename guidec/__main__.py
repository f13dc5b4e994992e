"""`python -m guidec` runs the command line."""

from .cli import main

main()
