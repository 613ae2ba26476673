"""The open REST API (issue 15): personal access tokens and the resources under /api/v1."""
