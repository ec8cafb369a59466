"""Delivering the outbox's events: channels (Apprise, signed webhooks) and the sender.

- :mod:`.render` turns an event into a chat message, or a webhook's JSON;
- :mod:`.channels` builds the named channels of rules.yaml, secrets expanded
  from the environment at the last moment (and registered for redaction);
- :mod:`.sender` claims due events in the store, delivers them with retries
  and backoff, and records what came of it;
- :mod:`.customer` renders the customer's message and normalises the phone.

Above the store and the configuration, beside the engine: the engine only
writes events (daemon.engine.side_effects.announce), never delivers them.
"""
