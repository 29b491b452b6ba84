#!/bin/sh
# The container's entrypoint: start the example service as PID 1's only process, so SIGTERM from
# `docker stop` reaches it directly and it can finish requests in flight before exiting.
# MIGRATE_ON_START=true first runs `alembic upgrade head` (deploy.toml `migrate = "on-start"`,
# the simplest way); by default a deploy migrates before the switch instead, in a one-off container.
set -eu
cd "${SERVICE_HOME:-/srv/service}"
case "${MIGRATE_ON_START:-false}" in
  true | 1 | yes) python3 -m alembic upgrade head ;;
esac
exec python3 -m app "$@"
