"""The scheduler process (its jobs arrive with the reminders issue). Importable so deployments can reference it."""
