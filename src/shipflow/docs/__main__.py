"""``python -m shipflow.docs ROOT``: write the reference pages of the tasks the project at ROOT runs.

The docs tasks run this in a fresh interpreter: invoke's parser consumes each task's help texts
(``Task.get_arguments`` pops them) before a task body runs, so the running program cannot read them.
"""

from __future__ import annotations

import sys
from pathlib import Path

from shipflow.docs.reference import project_namespace, write_reference_pages


def main(argv: list[str]) -> int:
    from shipflow.tasks import namespace as shipflow_tasks

    root = Path(argv[0])
    for page in write_reference_pages(root, project_namespace(root) or shipflow_tasks):
        print(f"regenerated {page}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
