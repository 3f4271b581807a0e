"""Persistence: tables per schema, migrations, the unit of work, event store, outbox, projections."""
