"""GitHub Actions and GitLab CI files generated from the tasks: each step one ``inv``/``nox`` line."""
