"""The console's blueprints, one per area: auth, dashboard, hosts, runs, audit, users, profile, metrics."""
