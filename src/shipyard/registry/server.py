"""A remote MLflow tracking server (``tracking: {uri: http://...}``).

The server is asked once per process, before the first MLflow call on it,
whether it is there and answers as MLflow: left to itself, MLflow retries a
refused connection for minutes (7 retries with exponential backoff) and then
fails with a traceback. The same check gives a clear error for refused
credentials and for a URL that is some other web server.

MLflow's own HTTP settings get shorter defaults here (a user's environment
wins): a failing call gives up after seconds rather than minutes, which also
keeps a serving process's champion watcher responsive when the server goes
away. MLflow's "View run at ..." lines, printed on stdout after each run, are
turned off: they would land in the middle of the CLI's output.
"""

from __future__ import annotations

import os
import threading

from shipyard.errors import RegistryError
from shipyard.workspace import Workspace

DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",  # MLflow's default, 7, waits minutes
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",  # seconds per request; MLflow's default is 120
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
}
PROBE_SECONDS = 10
_ENDPOINT = "/api/2.0/mlflow/experiments/search"
_reached: set[str] = set()  # servers that answered in this process
_lock = threading.Lock()


def reach(workspace: Workspace) -> None:
    """Check, once per process, that the workspace's tracking server answers as an
    MLflow server; a RegistryError naming its URL when it does not. Nothing to do
    for a local store."""
    uri = workspace.tracking_uri
    if not workspace.remote_tracking or uri in _reached:
        return
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)
    with _lock:
        if uri not in _reached:
            _probe(uri)
            _reached.add(uri)


def _probe(uri: str) -> None:
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request

    where = f"the MLflow tracking server at {uri} (tracking.uri)"
    try:  # one try, no retries: the answer is wanted now
        answer = http_request(get_default_host_creds(uri), _ENDPOINT, "POST", max_retries=0,
                              backoff_factor=0, timeout=PROBE_SECONDS,
                              json={"max_results": 1})
    except Exception as exc:  # refused, no such host, timed out, TLS...
        raise RegistryError(f"Cannot reach {where}", details=[_cause(exc)],
                            hint="start the server (`mlflow server --host ... --port ...`), "
                                 "or correct tracking.uri in the project file") from exc
    if answer.status_code in (401, 403):
        raise RegistryError(f"{where[0].upper()}{where[1:]} refused Shipyard's credentials "
                            f"(HTTP {answer.status_code})",
                            hint="set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD "
                                 "(or MLFLOW_TRACKING_TOKEN) in the environment")
    if answer.status_code != 200 or not _is_json(answer):
        raise RegistryError(f"{uri} (tracking.uri) does not answer as an MLflow tracking "
                            f"server (HTTP {answer.status_code} for {_ENDPOINT})",
                            details=[answer.text[:300]] if answer.text else [],
                            hint="tracking.uri is the server's base URL, "
                                 "e.g. http://mlflow.example.com:5000")


def _is_json(answer) -> bool:
    try:
        return isinstance(answer.json(), dict)
    except ValueError:
        return False


def _cause(exc: Exception) -> str:
    """The innermost reason (e.g. "Connection refused"), not MLflow's wrapping of it."""
    text = str(exc)
    for marker in ("Errno", "Name or service not known", "timed out", "SSLError"):
        at = text.find(marker)
        if at >= 0:
            return text[max(0, at - 1):][:300].rstrip(")'\"")
    return text[:300]
