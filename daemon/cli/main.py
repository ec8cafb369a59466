"""The ``autocancel`` command line: parse, set up logging, dispatch.

The parser is :mod:`.parser`, the handlers :mod:`.commands`; each command's
work is imported lazily from the module that does it. Exit codes follow the
contract (see :mod:`daemon.domain.exitcodes`).
"""

from __future__ import annotations

from collections.abc import Sequence

from daemon.cli.logsetup import configure_logging
from daemon.cli.parser import build_parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        return 130
