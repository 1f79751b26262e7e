"""`python -m bridge` is the `calbridge` command."""

from bridge.cli import main

raise SystemExit(main())
