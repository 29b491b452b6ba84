"""Build once: the image of a commit, its tags and labels, and the base image it starts from.

:mod:`~shipflow.imagebuild.settings` reads ``[tool.shipflow.build]``, :mod:`~shipflow.imagebuild.plan`
turns a commit into tags, labels and build args (pure), and :mod:`~shipflow.imagebuild.engine` runs the
docker SDK.
"""
