"""Build once: the image of a commit, its tags and labels, and the base image it starts from.

:mod:`~shipflow.images.settings` reads ``[tool.shipflow.build]``, :mod:`~shipflow.images.plan`
turns a commit into tags, labels and build args (pure), and :mod:`~shipflow.images.build` runs the
docker SDK.
"""
