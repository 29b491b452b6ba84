"""Blue-green deploys: settings, commands as data, host state, lock, audit, and the engine."""
