"""The ``autocancel`` command line: parse, set up logging, dispatch.

The parser is :mod:`.parser`, the handlers :mod:`.commands`; each command's
work is imported lazily from the module that does it. Exit codes follow the
contract (see :mod:`daemon.domain.exitcodes`).
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Sequence

from daemon.cli.logsetup import configure_logging
from daemon.cli.parser import build_parser


def main(argv: Sequence[str] | None = None) -> int:
    _collect_rarely_while_starting()
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


class _StartUpCollector:
    """Start-up imports some 500 modules (SQLAlchemy, pydantic and the config models,
    the rules): ~100,000 new container objects, nearly all of them kept. With the
    interpreter's thresholds the cyclic collector runs ~150 times over them, an
    eighth of a command's start-up CPU (~40 ms of ~320 ms) for no garbage. Until
    its first collection it waits for this many new objects instead; from then on
    it runs with the interpreter's own thresholds again, whatever the command does.
    """

    THRESHOLD = 100_000

    def __init__(self) -> None:
        self.saved: tuple[int, int, int] | None = None

    def collect_rarely(self) -> None:
        if self.saved is not None or not gc.isenabled():
            return  # main() again in one process before the first collection, or no collector
        self.saved = gc.get_threshold()
        gc.callbacks.append(self.thresholds_back)
        gc.set_threshold(self.THRESHOLD, *self.saved[1:])

    def thresholds_back(self, phase: str, info: dict[str, int]) -> None:
        if phase != "stop" or self.saved is None:
            return
        if gc.get_threshold()[0] == self.THRESHOLD:  # not set since by a command (replay)
            gc.set_threshold(*self.saved)
        self.saved = None
        gc.callbacks.remove(self.thresholds_back)


_collect_rarely_while_starting = _StartUpCollector().collect_rarely
