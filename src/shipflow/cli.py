"""The ``shipflow`` console script: the same tasks as ``inv``, without a tasks.py."""

from shipflow import __version__
from shipflow.tasks import namespace
from shipflow.tasks.badflags import RefusesBadFlags

program = RefusesBadFlags(
    namespace=namespace, version=__version__, name="shipflow", binary="shipflow", binary_names=["shipflow"]
)
