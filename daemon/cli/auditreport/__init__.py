"""``autocancel report --html FILE``: one self-contained page for an auditor.

:mod:`.facts` turns the ledger rows ``audit`` prints (the same query, the same
records) into what the page shows; :mod:`.charts` draws them as SVG with pygal;
:mod:`.page` fills the Jinja template (autoescaped) and writes the file
atomically; :mod:`.command` reads the store and reports errors as one line.
"""
