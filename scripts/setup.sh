#!/usr/bin/env bash
# Set up a fresh Debian/Ubuntu machine for shipflow: the system parts its workflow and tests use, and
# the shipflow package with its dev extra, so that `inv` and `nox` are on PATH afterwards.
#
#   bash scripts/setup.sh            # as root, or as a user with sudo
#
# Safe to run again: what is already there is left alone and reported as such. No systemd is assumed:
# the docker daemon and PostgreSQL are started directly when they are not running.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SYSTEM_PACKAGES=(git curl ca-certificates iproute2 docker.io nginx openssh-server openssh-client debootstrap postgresql
  docker-registry nftables wrk)
DOCKERD_LOG=/var/log/dockerd.log
installed=()
present=()

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

if [ "$(id -u)" -eq 0 ]; then
  as_root() { "$@"; }
elif command -v sudo >/dev/null 2>&1; then
  as_root() { sudo "$@"; }
else
  die "run as root or install sudo: system packages need root"
fi

command -v apt-get >/dev/null 2>&1 || die "apt-get not found: this script is for Debian or Ubuntu"

package_installed() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

install_system_packages() {
  local missing=() package
  for package in "${SYSTEM_PACKAGES[@]}"; do
    # A docker engine installed another way (docker-ce) counts as present.
    if package_installed "$package" || { [ "$package" = docker.io ] && command -v dockerd >/dev/null 2>&1; }; then
      present+=("$package")
    else
      missing+=("$package")
    fi
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]} (apt-get)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    installed+=("${missing[@]}")
  fi
}

docker_answers() { as_root docker info >/dev/null 2>&1; }

start_docker() {
  if docker_answers; then
    present+=("docker daemon (running)")
    return
  fi
  local pidfile=/var/run/docker.pid
  if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    say "removing stale $pidfile (pid $(cat "$pidfile") is gone)"
    as_root rm -f "$pidfile"
  fi
  say "starting dockerd (log: $DOCKERD_LOG)"
  as_root sh -c "setsid nohup dockerd >'$DOCKERD_LOG' 2>&1 < /dev/null &"
  local waited=0
  until docker_answers; do
    sleep 1
    waited=$((waited + 1))
    [ "$waited" -lt 60 ] || die "dockerd did not answer within 60 s; see $DOCKERD_LOG"
  done
  installed+=("docker daemon (started in ${waited}s)")
}

start_postgresql() {
  command -v pg_lsclusters >/dev/null 2>&1 || return 0
  local version cluster status
  read -r version cluster _ status _ < <(pg_lsclusters --no-header | head -n 1) || return 0
  if [ "$status" = online ]; then
    present+=("postgresql $version/$cluster (running)")
  else
    as_root pg_ctlcluster "$version" "$cluster" start
    installed+=("postgresql $version/$cluster (started)")
  fi
}

pick_python() {
  local candidate
  for candidate in "${PYTHON:-}" python3 python3.13 python3.12 python3.11; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"
      return
    fi
  done
  die "Python >= 3.11 not found; install python3.11 (apt-get install python3 on Debian 12) or set PYTHON"
}

enable_pyenv_pythons() {
  # nox's test matrix runs on every supported Python that is on PATH; under pyenv, only the global
  # versions are, so put the installed 3.11-3.13 there (MACHINE-NOTES).
  command -v pyenv >/dev/null 2>&1 || return 0
  local versions=() minor found
  for minor in 3.11 3.12 3.13; do
    found=$(pyenv versions --bare 2>/dev/null | grep -E "^${minor//./\\.}\.[0-9]+$" | sort -V | tail -n 1 || true)
    [ -n "$found" ] && versions+=("$found")
  done
  [ "${#versions[@]}" -gt 0 ] || return 0
  if [ "$(pyenv global | tr '\n' ' ' | sed 's/ $//')" = "${versions[*]}" ]; then
    present+=("pyenv global ${versions[*]}")
  else
    pyenv global "${versions[@]}"
    installed+=("pyenv global ${versions[*]}")
  fi
}

install_shipflow() {
  local python
  python=$(pick_python)
  local target=$python
  if "$python" -c 'import sys, sysconfig, pathlib; sys.exit(not (sys.prefix == sys.base_prefix and (pathlib.Path(sysconfig.get_path("stdlib")) / "EXTERNALLY-MANAGED").exists()))'; then
    # A system Python that pip may not touch (PEP 668): use a project venv and link its commands.
    [ -x "$REPO/.venv/bin/python" ] || "$python" -m venv "$REPO/.venv"
    target="$REPO/.venv/bin/python"
  fi
  local had=no
  "$target" -c 'import shipflow, invoke, nox, pytest' 2>/dev/null && had=yes
  say "installing shipflow with its dev extra into $("$target" -c 'import sys; print(sys.prefix)')"
  "$target" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -e "$REPO[dev]"
  if [ "$target" != "$python" ]; then
    local tool
    for tool in inv invoke nox shipflow pytest; do as_root ln -sf "$REPO/.venv/bin/$tool" "/usr/local/bin/$tool"; done
  fi
  command -v pyenv >/dev/null 2>&1 && pyenv rehash
  if [ "$had" = yes ]; then present+=("shipflow[dev] (refreshed)"); else installed+=("shipflow[dev]"); fi
}

# Debian's docker-registry package starts a service on :5000 of every interface where systemd runs; the
# tests start their own registries inside network namespaces, so that one is stopped and disabled.
keep_registry_service_off() {
  command -v systemctl >/dev/null 2>&1 || return 0
  if systemctl is-enabled --quiet docker-registry 2>/dev/null || systemctl is-active --quiet docker-registry 2>/dev/null; then
    say "stopping and disabling the docker-registry service (it listens on every interface)"
    as_root systemctl disable --now docker-registry >/dev/null 2>&1 || true
  fi
}

install_system_packages
keep_registry_service_off
start_docker
start_postgresql
enable_pyenv_pythons
install_shipflow

hash -r
for tool in inv nox shipflow; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is not on PATH after installing; check the pip output above"
done
say "installed: ${installed[*]:-nothing}"
say "already there: ${present[*]:-nothing}"
say "ready: inv --list"
