"""``python -m charsmith`` runs the command-line interface."""

from charsmith.cli import main

raise SystemExit(main())
