"""``python -m geozones.cli``: the command line."""

from . import main

main()
