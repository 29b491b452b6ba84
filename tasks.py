"""This repository's tasks: the whole shipflow workflow (`inv --list`)."""

from shipflow.tasks import namespace as namespace
