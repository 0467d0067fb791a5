"""`python -m copyloom` is the `copyloom` command."""

from copyloom.cli import main

main()
