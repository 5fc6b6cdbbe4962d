"""bench: side-by-side HTTP benchmark of reactor against stock Python servers.

Run ``python -m bench --help``.  The harness starts each server on a free
port pinned to one CPU set, drives it with ``wrk`` pinned to another,
interleaves servers round by round, and reports median requests/s, latency
and server CPU time per request.  See bench/README.md.
"""
