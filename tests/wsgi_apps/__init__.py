"""Test WSGI applications and small helpers for the tests/test_wsgi*.py files.

Importable as ``wsgi_apps`` (pytest puts tests/ on sys.path) and, for the
CLI tests, as top-level modules of this folder through ``--app-dir``.
"""
