"""Plaid: bank transactions through `/transactions/sync` and verified webhooks (see `client.py`),
with an offline fake of the same HTTP API (`fake.py`) for the tests and the demo."""
