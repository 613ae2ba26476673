"""Imports (导入) of records from Excel/CSV at /imports: a wizard of real pages, batches that can be undone."""
