"""ASGI apps of real frameworks (FastAPI, Starlette, Litestar, Django) and the
echo app of the differential tests, served by ``python -m reactor`` (and by
uvicorn, as the control) in tests/test_asgi_frameworks.py and
tests/test_asgi_differential.py.

Every framework app implements the same URL contract (see ``common``), so
one test body drives all four.
"""
