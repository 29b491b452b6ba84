"""shipflow: a backend team's delivery workflow as invoke tasks and nox sessions."""

__version__ = "0.1.0"
