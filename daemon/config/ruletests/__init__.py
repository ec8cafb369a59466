"""Rules test files (``autocancel test``): reading and checking them, every problem at once.

:func:`.load.load_rule_tests` reads a file into a :class:`.spec.RuleTestFile`
(the rules, and each test's steps with their clocks, rows and expectations
resolved), or raises :class:`.load.RuleTestFileError` with one
``FILE:LINE: message`` per problem. Running the tests is the engine's
(daemon.engine.ruletest).
"""
