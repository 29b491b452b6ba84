"""``inv ci.generate``: write the CI pipelines (GitHub Actions or GitLab CI), one `inv`/`nox` line a step."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from shipflow.project import find_project_root


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
    from shipflow.ci.workflows import PROVIDERS, ci_files

    if provider not in PROVIDERS:
        raise Exit(
            f"ci.generate: give --provider {' or '.join(PROVIDERS)} (got {provider or 'none'!r})", code=2
        )
    root = find_project_root()
    stale = []
    for relative, text in ci_files(provider).items():
        path = root / relative
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == text:
            print(f"unchanged  {relative}")
            continue
        stale.append(relative)
        if check:
            print(f"{'differs' if current is not None else 'missing'}    {relative}")
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"{'updated' if current is not None else 'created'}    {relative}")
    if check and stale:
        raise Exit(
            f"ci.generate: {len(stale)} file(s) out of date; run `inv ci.generate --provider {provider}`", 1
        )


namespace = Collection("ci")
namespace.add_task(generate)
