"""pungi_like: a compose orchestrator in the mould of Pungi, with an embedded Koji-compatible build service."""

__version__ = "0.1.0"
