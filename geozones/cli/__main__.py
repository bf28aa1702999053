"""``python -m geozones.cli``: the command line."""

from .main import main

main()
