"""The staff pages under /admin (see api.admin.pages)."""
