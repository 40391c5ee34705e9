"""The floor for HTTP benchmarks: a functions-framework function that does nothing."""

import flask
import functions_framework


@functions_framework.http
def noop(request: flask.Request) -> flask.Response:
    """Answer every request with 204 and no body."""
    return flask.Response(status=204)
