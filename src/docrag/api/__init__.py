"""The HTTP API: an app factory, typed dependencies and thin routes over the services."""
