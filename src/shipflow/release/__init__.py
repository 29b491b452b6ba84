"""Git, the branch model and release tags."""
