"""Entry point `create_meeting` (HTTP)."""

import flask
import functions_framework


@functions_framework.http
def create_meeting(request: flask.Request) -> flask.typing.ResponseReturnValue:
    """Not built yet."""
    return {"error": {"code": 501, "message": "not implemented"}}, 501
