"""Use cases and state machines. Plain Python: no Flask request objects in here."""
