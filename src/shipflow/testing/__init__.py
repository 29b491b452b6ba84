"""Test groups (tests_config.yaml), the pytest plugin, the test runner, service checks and load generation."""
