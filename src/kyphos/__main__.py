"""``python -m kyphos`` runs the command line."""

from kyphos.cli import main

main()
