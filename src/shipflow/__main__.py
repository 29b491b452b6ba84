"""``python -m shipflow``: the same as the ``shipflow`` console script."""

from shipflow.cli import program

program.run()
