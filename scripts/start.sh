#!/bin/sh
# The container's entrypoint: start the example service as PID 1's only process, so SIGTERM from
# `docker stop` reaches it directly and it can finish requests in flight before exiting.
set -eu
cd "${SERVICE_HOME:-/srv/service}"
exec python3 -m app "$@"
