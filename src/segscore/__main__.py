"""``python -m segscore …``: the same CLI as the ``segscore`` command."""

from segscore.cli import main

main(prog_name="segscore")
