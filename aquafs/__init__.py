"""Core of the aquaculture feature store: settings, errors, logging, database access, migrations."""
