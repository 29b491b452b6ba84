"""Test groups from tests_config.yaml, the pytest plugin that applies them, the ``inv test`` runner, the
real-service checks behind ``@pytest.mark.needs``, and the load generator the zero-downtime tests use."""
