"""The service layer: command handlers (one per command, one table), the bus, and queries."""
