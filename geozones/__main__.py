"""``python -m geozones``: the command line."""

from .cli import main

main()
