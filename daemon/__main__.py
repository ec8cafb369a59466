"""``python -m daemon`` is the same as the ``autocancel`` console script."""

from daemon.cli import main

raise SystemExit(main())
