"""Entry point `watch_calendar` (HTTP)."""

import flask
import functions_framework


@functions_framework.http
def watch_calendar(request: flask.Request) -> flask.typing.ResponseReturnValue:
    """Not built yet."""
    return {"error": {"code": 501, "message": "not implemented"}}, 501
