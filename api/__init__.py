"""HTTP: FastAPI, one folder per slice (commands, queries, ...). Endpoints parse, call the bus or a
query, and return; errors map to status codes in `api.errors`."""
