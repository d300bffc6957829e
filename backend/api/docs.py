"""`/openapi.json` and `/docs`: the API's OpenAPI document, and Swagger UI over it.

Swagger UI is vendored under static/vendor/swagger-ui (the npm package swagger-ui-dist, see
its README.md there), so the page needs nothing from outside and works offline.

The document is English; `/openapi.json?lang=zh-CN` has its title, description and each
operation's summary and description in Chinese (backend/i18n/openapi_zh_cn.py), the rest as
it is. `/docs` shows that one to a reader whose browser prefers Chinese (Accept-Language), or
who chose it with the page's switch (`?lang=zh-CN`, `?lang=en`). Swagger UI's own buttons
stay English: it has no translations.
"""

from flask import Blueprint, current_app, jsonify, render_template, request, url_for

from backend import i18n
from backend.api.openapi import build_spec, catalogue_key, translated_spec

bp = Blueprint("docs", __name__)

# Only our own files run; Swagger UI sets inline styles and draws data: images, and "try it
# out" calls this backend.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


PAGE_TITLE = "WeChat subscribe-message backend: API"


@bp.get("/openapi.json")
def get_openapi():
    """The OpenAPI 3 document of every endpoint, built once per mount point and language.

    English unless `?lang=` names a language we have (`zh-CN`); an unknown one is English.
    """
    language = i18n.language_of_tag(request.args.get("lang", "")) or i18n.ENGLISH
    server_url = request.script_root or "/"
    built = current_app.extensions.setdefault("openapi", {})
    if (server_url, language) not in built:
        english = built.get((server_url, i18n.ENGLISH)) or build_spec(current_app, server_url=server_url)
        built[server_url, i18n.ENGLISH] = english
        built[server_url, language] = translated_spec(english, language)
    response = jsonify(built[server_url, language])
    response.headers["Content-Language"] = language
    return response


@bp.get("/docs")
def get_docs():
    """Swagger UI over /openapi.json, in the reader's language (`?lang=`, else Accept-Language)."""
    language = i18n.language_of_tag(request.args.get("lang", "")) or i18n.negotiate(request.accept_languages)
    spec_url = url_for("docs.get_openapi", lang=language) if language != i18n.ENGLISH else url_for("docs.get_openapi")
    catalogue = i18n.OPENAPI_CATALOGUES.get(language, {})
    page = render_template(
        "docs.html",
        language=language,
        language_choices=i18n.LANGUAGE_CHOICES,
        spec_url=spec_url,
        title=catalogue.get(catalogue_key(PAGE_TITLE), PAGE_TITLE),
    )
    response = current_app.make_response(page)
    response.headers["Content-Security-Policy"] = DOCS_CSP
    response.headers["Content-Language"] = language
    response.vary.add("Accept-Language")
    return response
