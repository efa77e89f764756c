"""``python -m segscore …``: the same CLI as the ``segscore`` command."""

from segscore.launch import main

main()
