#!/usr/bin/env bash
# Build the service's base image from Debian packages, for machines that cannot pull from a registry:
# debootstrap a minimal Debian root with the packages the service needs, then `docker import` it.
#
#   bash scripts/build-base-image.sh [--name NAME] [--tag NAME:TAG] [--suite SUITE] [--mirror URL]
#                                    [--print-tag] [PACKAGE ...]
#
# Environment instead of flags: BASE_IMAGE_NAME, BASE_IMAGE_TAG, BASE_PACKAGES (space separated),
# DEBIAN_SUITE, DEBIAN_MIRROR. The default tag is NAME:SUITE-HASH, HASH being the first 12 hex digits of
# sha256("SUITE:pkg1,pkg2,...") over the sorted package list (shipflow.images.settings computes the same),
# so a changed package list builds a new image and an unchanged one is skipped. --print-tag only prints
# the tag. The mirror is read from /etc/apt/sources.list.d/, then /etc/apt/sources.list.
set -euo pipefail

DEFAULT_PACKAGES=(python3 python3-sqlalchemy python3-psycopg2 python3-dotenv python3-alembic ca-certificates)

say() { printf 'base image: %s\n' "$*" >&2; }
die() { printf 'base image: error: %s\n' "$*" >&2; exit 1; }

name=${BASE_IMAGE_NAME:-shipflow-base}
tag=${BASE_IMAGE_TAG:-}
suite=${DEBIAN_SUITE:-bookworm}
mirror=${DEBIAN_MIRROR:-}
print_tag=no
packages=()
while [ "$#" -gt 0 ]; do
  case "$1" in
    --name) name=${2:?--name needs a value}; shift 2 ;;
    --tag) tag=${2:?--tag needs a value}; shift 2 ;;
    --suite) suite=${2:?--suite needs a value}; shift 2 ;;
    --mirror) mirror=${2:?--mirror needs a value}; shift 2 ;;
    --print-tag) print_tag=yes; shift ;;
    -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) packages+=("$1"); shift ;;
  esac
done
if [ "${#packages[@]}" -eq 0 ]; then
  if [ -n "${BASE_PACKAGES:-}" ]; then
    read -r -a packages <<<"$BASE_PACKAGES"
  else
    packages=("${DEFAULT_PACKAGES[@]}")
  fi
fi

package_list=$(printf '%s\n' "${packages[@]}" | sort -u | paste -sd, -)
if [ -z "$tag" ]; then
  hash=$(printf '%s:%s' "$suite" "$package_list" | sha256sum | cut -c1-12)
  tag="$name:$suite-$hash"
fi
if [ "$print_tag" = yes ]; then
  echo "$tag"
  exit 0
fi

command -v docker >/dev/null 2>&1 || die "docker is not installed: run 'bash scripts/setup.sh'"
docker info >/dev/null 2>&1 || die "the docker engine does not answer: start it with 'bash scripts/setup.sh'"
if docker image inspect "$tag" >/dev/null 2>&1; then
  say "$tag is present, skipped"
  echo "$tag"
  exit 0
fi
command -v debootstrap >/dev/null 2>&1 || die "debootstrap is not installed: run 'bash scripts/setup.sh'"
[ "$(id -u)" -eq 0 ] || die "debootstrap needs root: run as root or with sudo"

# The first mirror that serves SUITE, from deb822 .sources stanzas or one-line .list entries.
mirror_from_apt() {
  local file
  for file in /etc/apt/sources.list.d/*.sources; do
    [ -f "$file" ] || continue
    awk -v suite="$suite" '
      BEGIN { RS = ""; FS = "\n" }
      {
        uris = ""; found = 0
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", $i); split($i, u, /[ \t]+/); uris = u[1] }
          if ($i ~ /^Suites:/) { n = split($i, s, /[ \t]+/); for (j = 2; j <= n; j++) if (s[j] == suite) found = 1 }
        }
        if (found && uris != "") { print uris; exit }
      }' "$file"
  done
  for file in /etc/apt/sources.list.d/*.list /etc/apt/sources.list; do
    [ -f "$file" ] || continue
    awk -v suite="$suite" '$1 == "deb" {
        i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
        if ($(i + 1) == suite) { print $i; exit }
      }' "$file"
  done
}
if [ -z "$mirror" ]; then
  mirror=$(mirror_from_apt | head -n 1)
  mirror=${mirror:-http://deb.debian.org/debian}
fi

rootfs=$(mktemp -d /tmp/shipflow-base.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
started=$(date +%s)
say "building $tag: debootstrap $suite from $mirror with $package_list"
debootstrap --variant=minbase --include="$package_list" "$suite" "$rootfs" "$mirror" >&2 \
  || die "debootstrap failed (see above); check that $mirror is reachable"
# What an image never needs: apt's downloaded lists and packages, documentation, man pages.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/usr/share/doc/* \
  "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/var/log/*.log
tar --numeric-owner -C "$rootfs" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  --change "LABEL shipflow.base.suite=$suite shipflow.base.packages=$package_list" \
  - "$tag" >/dev/null
say "built $tag in $(($(date +%s) - started))s"
echo "$tag"
