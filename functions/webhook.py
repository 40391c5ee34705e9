"""Entry point `calendar_webhook` (HTTP, public)."""

import flask
import functions_framework


@functions_framework.http
def calendar_webhook(request: flask.Request) -> flask.typing.ResponseReturnValue:
    """Not built yet."""
    return {"error": {"code": 501, "message": "not implemented"}}, 501
