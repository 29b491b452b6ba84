"""CI files generated from the task list: GitHub Actions and GitLab CI."""
