"""The ``autocancel`` command line: parse, set up logging, dispatch.

The parser is :mod:`.parser`, the handlers :mod:`.commands`; each command's
work is imported lazily from the module that does it. Exit codes follow the
contract (see :mod:`daemon.domain.exitcodes`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from daemon.cli.logsetup import configure_logging
from daemon.cli.parser import build_parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    try:
        code = int(args.handler(args))
        sys.stdout.flush()  # here, where a closed pipe can still be told apart
        return code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _reader_went_away()


# 128 + SIGPIPE: what a shell pipeline reports for a writer whose reader left.
PIPE_CLOSED = 141


def _reader_went_away() -> int:
    """``autocancel audit | head``: the reader has all it wanted; end quietly.

    Python would otherwise print a traceback, and another one when it flushes
    stdout at exit. Later writes go nowhere instead.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return PIPE_CLOSED
