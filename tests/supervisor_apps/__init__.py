"""Apps and process helpers for the issue-9 tests (test_supervisor, test_bind, test_config)."""
