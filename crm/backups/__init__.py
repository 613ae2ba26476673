"""Backups (issue 14): a consistent copy of the database and the data directory's files in one archive with a
manifest of checksums (archive.py), restored into an empty instance; scheduled daily with a run log (service.py,
jobs.py), managed at /admin/backups (routes.py), and `crm backup` / `crm restore` (cli.py)."""
