"""Entry point `import_events` (HTTP)."""

import flask
import functions_framework


@functions_framework.http
def import_events(request: flask.Request) -> flask.typing.ResponseReturnValue:
    """Not built yet."""
    return {"error": {"code": 501, "message": "not implemented"}}, 501
