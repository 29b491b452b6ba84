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

    GitHub: ci.yml, deploy-prod.yml (push to main: tests, then `inv deploy.prod --yes` in the protected
    `production` environment) and docs.yml. GitLab: stages lint, test, build, deploy (production manual).
    """
    from shipflow.ci.generate import generate_ci_files
    from shipflow.project import find_project_root

    with exit_codes("ci.generate"):
        generate_ci_files(find_project_root(), provider, check=check, on_line=print)


namespace = Collection("ci")
namespace.add_task(generate)
