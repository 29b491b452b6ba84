"""The root task namespace: one collection per workflow step.

Only invoke and shipflow's light modules are imported here; docker, fabric, alembic and yaml are
imported inside the tasks that use them, so ``inv --list`` starts as fast as a bare invoke.
"""

from invoke.collection import Collection

from shipflow.tasks import build, ci, db, deploy, docs, env, gate, git_tasks, init, lint, release, test
from shipflow.tasks.badflags import refuse_bad_flags_in_inv

refuse_bad_flags_in_inv()  # `inv` runs invoke's own program, which would exit 1 on a bad flag

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
namespace.add_collection(gate.namespace)
namespace.add_collection(git_tasks.namespace)


def including_shipflow(module_name: str) -> Collection:
    """The tasks of a project's own tasks.py (``module_name``) with shipflow's added, for its last lines.

    The project's own collection (``ns`` or ``namespace``) is extended in place, else one is made from the
    module's tasks; a name the project already uses keeps the project's task.
    """
    import sys

    module = sys.modules[module_name]
    own = next(
        (c for c in (getattr(module, n, None) for n in ("ns", "namespace")) if isinstance(c, Collection)),
        None,
    )
    project = own if own is not None else Collection.from_module(module)
    for name, task in namespace.tasks.items():
        if name not in project.tasks and name not in project.collections:
            project.add_task(task, name)
    for name, collection in namespace.collections.items():
        if name not in project.tasks and name not in project.collections:
            project.add_collection(collection, name)
    return project
