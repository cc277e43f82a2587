"""Durable background ingestion: submit.py (enqueue, wait), runner.py (one job), worker.py (loop)."""
