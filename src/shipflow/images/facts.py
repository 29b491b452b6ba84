"""Image facts on a host, for the deploy: is an image there, and which old release images can go.

Written against :class:`~shipflow.hosts.Host` with the docker CLI, so the same calls work on this machine
and over SSH. The argv lists and the parsing of docker's output are pure functions below.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shipflow.images.plan import APP_LABEL

if TYPE_CHECKING:
    from shipflow.hosts.base import Host


@dataclass(frozen=True)
class ReleaseImage:
    """One image of an app on a host: its id, its tags and when docker created it."""

    image_id: str
    created: str
    tags: tuple[str, ...] = ()


def image_id_argv(reference: str) -> list[str]:
    """The argv that prints the full id of ``reference`` (an id or a tag); it fails when absent."""
    return ["docker", "image", "inspect", "--format", "{{.Id}}", reference]


_DETAIL_TEMPLATE = '{"id":{{json .Id}},"created":{{json .Created}},"tags":{{json .RepoTags}}}'
_SECTION = "--- images in use"
# One round trip for what a prune decides on: each of the app's images (id, creation time, tags) as a JSON
# line, then the images every container (running or stopped) uses. A container or image removed meanwhile
# makes an inspect exit 1; it still prints the others.
_PRUNE_FACTS = (
    'ids=$(docker image ls --quiet --no-trunc --filter "label=$1" | sort -u); [ -n "$ids" ] || exit 0; '
    'docker image inspect --format "$2" $ids; echo "$3"; '
    "containers=$(docker container ls --all --quiet --no-trunc); "
    '[ -z "$containers" ] || docker container inspect --format "{{.Image}}" $containers; exit 0'
)


def prune_facts_argv(app: str) -> list[str]:
    """The argv that prints the details of ``app``'s images and the ids of the images containers use."""
    return ["sh", "-c", _PRUNE_FACTS, "prune", f"{APP_LABEL}={app}", _DETAIL_TEMPLATE, _SECTION]


def parse_prune_facts(output: str) -> tuple[list[ReleaseImage], set[str]]:
    """The app's images and the ids in use, from :func:`prune_facts_argv` output."""
    images, _, in_use = output.partition(f"{_SECTION}\n")
    return parse_image_details(images), set(parse_ids(in_use))


def remove_image_argv(image: ReleaseImage) -> list[str]:
    """The argv that removes ``image``: by its tags (so no force is needed), by id when untagged.

    Without ``--force`` docker refuses to remove an image a container still uses.
    """
    return ["docker", "image", "rm", *(image.tags or (image.image_id,))]


def parse_ids(output: str) -> list[str]:
    """The non-empty lines of ``output``, in order, without duplicates."""
    return list(dict.fromkeys(line.strip() for line in output.splitlines() if line.strip()))


def parse_image_details(output: str) -> list[ReleaseImage]:
    """Images from lines of ``{"id": ..., "created": ..., "tags": [...]}``."""
    images = []
    for line in output.splitlines():
        if line.strip():
            record = json.loads(line)
            images.append(ReleaseImage(record["id"], record["created"], tuple(record["tags"] or ())))
    return images


def prunable(
    images: Iterable[ReleaseImage], *, retain: int, in_use: Iterable[str], keep: Iterable[str] = ()
) -> list[ReleaseImage]:
    """The images to remove: all but the newest ``retain``, never one in ``in_use`` or ``keep``.

    ``keep`` may hold ids or tags. docker's creation times are RFC 3339 in UTC, so they sort as text.
    """
    protected = set(in_use) | set(keep)
    newest_first = sorted(images, key=lambda image: (image.created, image.image_id), reverse=True)
    return [
        image
        for image in newest_first[retain:]
        if image.image_id not in protected and not protected.intersection(image.tags)
    ]


def host_has_image(host: Host, image_id: str) -> bool:
    """Whether ``host`` already has the image ``image_id`` (a full ``sha256:...`` id, or a tag)."""
    result = host.query(image_id_argv(image_id))
    if not result.ok:
        return False
    found = result.stdout.strip()
    return not image_id.startswith("sha256:") or found == image_id


def prune_release_images(host: Host, app: str, retain: int, keep: Iterable[str] = ()) -> list[str]:
    """Remove ``app``'s release images beyond the newest ``retain``; return the removed ids.

    An image any container uses (running or stopped) or named in ``keep`` (ids or tags) stays. An image
    docker refuses to remove (a container created meanwhile) is left, not an error.
    """
    if retain < 1:
        raise ValueError(f"retain must be at least 1, got {retain}")
    images, in_use = parse_prune_facts(host.query(prune_facts_argv(app)).check(host.name).stdout)
    doomed = prunable(images, retain=retain, in_use=in_use, keep=keep)
    removed = []
    for image in doomed:
        if host.run(remove_image_argv(image)).ok:
            removed.append(image.image_id)
    return removed
