#!/bin/sh
# The container's entrypoint: `exec` the example service (gunicorn's arbiter, in `python3 -m app`) so
# it replaces this shell as the container's main process and SIGTERM from `docker stop` reaches it:
# it stops accepting, lets requests in flight finish and exits 0.
# MIGRATE_ON_START=true first runs `alembic upgrade head` (deploy.toml `migrate = "on-start"`,
# the simplest way); by default a deploy migrates before the switch instead, in a one-off container.
set -eu
cd "${SERVICE_HOME:-/srv/service}"
case "${MIGRATE_ON_START:-false}" in
  true | 1 | yes) python3 -m alembic upgrade head ;;
esac
exec python3 -m app "$@"
