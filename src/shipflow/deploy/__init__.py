"""Blue-green deploys: settings, commands as data, the host's state, the per-host switch (``bluegreen``),
the rollout across hosts (``rollout``), rollback choice, status, maintenance, lock and audit log."""
