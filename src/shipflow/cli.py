"""The ``shipflow`` console script: the same tasks as ``inv``, without a tasks.py."""

from invoke.program import Program

from shipflow import __version__
from shipflow.tasks import namespace

program = Program(namespace=namespace, version=__version__, name="shipflow", binary="shipflow")
