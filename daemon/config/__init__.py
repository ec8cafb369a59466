"""rules.yaml: read safely, validated completely, frozen.

``load`` reads the file and reports every problem (``load_config``,
``ConfigError``); ``models`` are the validated settings (``Config``);
``yamlsource`` keeps the line of every key; ``rules_section`` and
``restaurants_section`` check the two lists entry by entry; ``error_messages``
words pydantic's errors for operators; ``restaurant_checks`` warns about
likely slips. ``credentials`` and ``geocode_file`` read the other inputs:
secrets (environment or systemd credentials) and a rehearsal geocoder's answers.
"""
