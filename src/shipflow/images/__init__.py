"""Build once: the image of a commit (settings, a pure plan of tags, labels and build args, the docker SDK
build), the base image it starts from, and what a host holds (image facts, pruning old releases)."""
