"""``inv docs.build``, ``docs.serve`` and ``docs.deploy``: the user guide in docs/, built with mkdocs."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from shipflow.errors import exit_codes


@task(help={})
def build(c: Context) -> None:
    """Regenerate the task and settings reference pages, then `mkdocs build --strict` into site/.

    Any warning (a broken link, a page missing from the nav) fails the build.
    """
    from shipflow.docs.site import build_site
    from shipflow.project import find_project_root

    with exit_codes("docs.build"):
        line = build_site(find_project_root())
    print(line)


@task(help={"port": "port on 127.0.0.1 to serve on (default 8008; 8000/8001 are deploy slots)"})
def serve(c: Context, port: int = 8008) -> None:
    """Serve the docs on http://127.0.0.1:PORT, rebuilding on every change (Ctrl-C stops)."""
    from shipflow.docs.site import serve_site
    from shipflow.project import find_project_root

    with exit_codes("docs.serve"):
        serve_site(find_project_root(), port)


@task(help={})
def deploy(c: Context) -> None:
    """Publish the docs site to GitHub Pages (`mkdocs gh-deploy`), only from the `documentation` branch.

    On documentation/* branches it only builds (a check, like a pull request); on any other branch it
    refuses with exit 2. Pushes the gh-pages branch to the remote of [tool.shipflow.git] (origin).
    """
    from shipflow.docs.site import publish_site
    from shipflow.project import load_project

    with exit_codes("docs.deploy"):
        line = publish_site(load_project())
    print(line)


namespace = Collection("docs")
namespace.add_task(build)
namespace.add_task(serve)
namespace.add_task(deploy)
