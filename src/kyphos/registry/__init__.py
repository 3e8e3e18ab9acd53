"""Persistence: the schema, sessions, migrations, audit trail and access rules."""
