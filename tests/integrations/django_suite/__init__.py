"""Django's own session-backend tests, run against ``hasession.django`` (see ``bootstrap.py``)."""
