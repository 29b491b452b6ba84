"""``inv ci.generate``: write the CI pipelines (GitHub Actions or GitLab CI), one `inv`/`nox` line a step."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from shipflow.errors import exit_codes


@task(
    help={
        "provider": "github (.github/workflows/ci.yml, deploy-prod.yml, docs.yml) or gitlab (.gitlab-ci.yml)",
        "check": "write nothing; exit 1 when a file differs from what would be generated",
    }
)
def generate(c: Context, provider: str = "", check: bool = False) -> None:
    """Write the CI files for a provider: lint, typecheck, tests on 3.11-3.13, migration check, build, deploy.

    GitHub: ci.yml, deploy-prod.yml (push to main: tests, the image built once, deployed to staging, the
    gates of [tool.shipflow.gates] required run against staging, then `inv deploy.promote` of that image
    in the protected `production` environment) and docs.yml. GitLab: stages lint, test, build, staging,
    gates, production (the promotion started by hand).
    """
    from shipflow.ci.generate import generate_ci_files
    from shipflow.gates.settings import required_gates
    from shipflow.project import find_project_root, load_project

    with exit_codes("ci.generate"):
        root = find_project_root()
        gates = required_gates(load_project(root))
        generate_ci_files(root, provider, check=check, on_line=print, gates=gates)


namespace = Collection("ci")
namespace.add_task(generate)
