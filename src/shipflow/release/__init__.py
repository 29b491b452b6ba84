"""Git facts, the branch model (which branch may release, deploy or publish the docs) and release tags."""
