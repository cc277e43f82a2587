"""Quality evaluations on public data sets."""
