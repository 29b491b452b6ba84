"""The root task namespace: one collection per workflow step.

Only invoke and shipflow's light modules are imported here; docker, fabric, alembic and yaml are
imported inside the tasks that use them, so ``inv --list`` starts as fast as a bare invoke.
"""

from invoke.collection import Collection

from shipflow.tasks import build, env, lint, test

namespace = Collection()
namespace.add_task(lint.lint)
namespace.add_task(test.run_tests)
namespace.add_collection(build.namespace)
namespace.add_collection(env.namespace)
