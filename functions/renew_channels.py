"""Entry point `renew_channels` (HTTP)."""

import flask
import functions_framework


@functions_framework.http
def renew_channels(request: flask.Request) -> flask.typing.ResponseReturnValue:
    """Not built yet."""
    return {"error": {"code": 501, "message": "not implemented"}}, 501
