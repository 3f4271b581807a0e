"""Composition root: settings, the business file, wiring (bootstrap) and the `hibachi` CLI."""
