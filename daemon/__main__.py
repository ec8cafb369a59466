"""``python -m daemon`` is the same as the ``autocancel`` console script."""

from daemon.cli.main import main

raise SystemExit(main())
