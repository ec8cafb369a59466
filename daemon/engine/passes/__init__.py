"""One evaluation pass, end to end.

snapshot → rules → one decision per order → safety → intents committed in one
transaction → API calls (bounded concurrency, retries) → outcomes recorded one
by one as they arrive. Dry-run stops after the ledger: it never builds a client.

- :mod:`.runner` runs a pass in that order, on one pass clock;
- :mod:`.judge` reads the store and plans on it (also for ``explain`` and
  ``cancel``), and judges a decision again right before its call;
- :mod:`.record` writes the pass's row and commits its decisions;
- :mod:`.report` is what the pass tells its caller and the log.

Code outside the package imports from here. Every module logs as ``daemon.engine.passes``,
the name its lines had in the journal before the package was split.
"""

from daemon.engine.passes.errors import PassError
from daemon.engine.passes.judge import Judge, safety_limits
from daemon.engine.passes.report import PassReport, log_decision
from daemon.engine.passes.runner import PassRunner

__all__ = ["Judge", "PassError", "PassReport", "PassRunner", "log_decision", "safety_limits"]
