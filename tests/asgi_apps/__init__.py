"""ASGI applications for tests/test_asgi.py (also loaded by the CLI with
``--app-dir tests/asgi_apps``, so the modules import nothing relative)."""
