"""Observability: request ids, HTTP metrics per route template, and the /metrics endpoint.

Metric names start with ``docrag_``; labels are bounded (route templates, methods, status codes),
never raw paths, ids or tenants' text.
"""
