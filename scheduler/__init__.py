"""The scheduler: a small fixed list of jobs (jobs.py) that find what is due in the database and deliver it.

Its job store is memory; reminders are rows (crm/notifications), so nothing is lost when it stops. Run it as its own
process (`python -m scheduler`, `crm scheduler`, or `--once` for one pass of every job); `crm serve --with-scheduler`
(which `make run` uses) starts that process beside the web workers and stops it with them."""
