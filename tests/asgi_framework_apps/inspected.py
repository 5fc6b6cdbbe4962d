"""One of the framework apps wrapped in asgion's Inspector (Python 3.12+):
``asgi_framework_apps.inspected:app`` serves the app named by
``REACTOR_ASGION_APP`` (``module:attr``) and appends each violation asgion
sees (warnings and errors: its "info" level are notes) to the file named by
``REACTOR_ASGION_OUT``, one JSON object a line, at once: the worker may end
without running atexit handlers."""
import importlib
import json
import os

from asgion import AsgionConfig, Inspector, Severity

_module, _, _attr = os.environ["REACTOR_ASGION_APP"].partition(":")
_OUT = os.environ["REACTOR_ASGION_OUT"]


def _record(v):
    with open(_OUT, "a") as f:
        f.write(json.dumps({"rule": v.rule_id, "severity": str(v.severity), "method": v.method,
                            "path": v.path, "message": v.message}) + "\n")


app = Inspector(getattr(importlib.import_module(_module), _attr),
                config=AsgionConfig(min_severity=Severity.WARNING), on_violation=_record)
