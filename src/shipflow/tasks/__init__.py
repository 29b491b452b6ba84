"""The root task namespace: one collection per workflow step.

Only invoke and shipflow's light modules are imported here; docker, fabric, alembic and yaml are
imported inside the tasks that use them, so ``inv --list`` starts as fast as a bare invoke.
"""

from invoke.collection import Collection

from shipflow.tasks import lint

namespace = Collection()
namespace.add_task(lint.lint)
