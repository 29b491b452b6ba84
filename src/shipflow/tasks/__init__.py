"""The root task namespace: one collection per workflow step.

Only invoke and shipflow's light modules are imported here; docker, fabric, alembic and yaml are
imported inside the tasks that use them, so ``inv --list`` starts as fast as a bare invoke.
"""

from invoke.collection import Collection

from shipflow.tasks import build, ci, db, deploy, docs, env, git_tasks, init, lint, release, test

namespace = Collection()
namespace.add_task(lint.lint)
namespace.add_task(test.run_tests)
namespace.add_task(release.release)
namespace.add_task(init.init)
namespace.add_collection(build.namespace)
namespace.add_collection(db.namespace)
namespace.add_collection(ci.namespace)
namespace.add_collection(deploy.namespace)
namespace.add_collection(docs.namespace)
namespace.add_collection(env.namespace)
namespace.add_collection(git_tasks.namespace)
