"""The web console at ``/console/``: pages and forms over the KMS operations, for people.

Owns: sign-in and its sealed session cookie with a CSRF token (``session``), the routes and
forms (``web``; Jinja2 templates and vendored htmx under ``templates/`` and ``static/``), and
a key's hourly request counts read from the audit trail (``usage``). Owns no key logic: every
page and action runs KMS operations through ``TrentApp.perform`` as the signed-in principal,
authorized and audited exactly as that principal's API calls are (``userAgent``
``trent-console (...)``). ``trent.app`` mounts it on each worker's ``TrentApp``.
"""

from trent.console.web import PREFIX, Console

__all__ = ["PREFIX", "Console"]
