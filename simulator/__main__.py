"""``python -m mpmsim``."""

from mpmsim.cli import main

main()
