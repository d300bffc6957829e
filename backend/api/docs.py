"""`/openapi.json` and `/docs`: the API's OpenAPI document, and Swagger UI over it.

Swagger UI is vendored under static/vendor/swagger-ui (the npm package swagger-ui-dist, see
its README.md there), so the page needs nothing from outside and works offline.
"""

from flask import Blueprint, current_app, jsonify, render_template, request

from backend.api.openapi import build_spec

bp = Blueprint("docs", __name__)

# Only our own files run; Swagger UI sets inline styles and draws data: images, and "try it
# out" calls this backend.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@bp.get("/openapi.json")
def get_openapi():
    """The OpenAPI 3 document of every endpoint, built once per mount point."""
    server_url = request.script_root or "/"
    built = current_app.extensions.setdefault("openapi", {})
    if server_url not in built:
        built[server_url] = build_spec(current_app, server_url=server_url)
    return jsonify(built[server_url])


@bp.get("/docs")
def get_docs():
    """Swagger UI over /openapi.json."""
    response = current_app.make_response(render_template("docs.html"))
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response
