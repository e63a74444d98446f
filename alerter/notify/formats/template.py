"""The ``template`` format: a Jinja2 body and headers, for ticketing systems.

Templates run in Jinja2's ``SandboxedEnvironment`` (no attribute tricks into Python
internals) with ``StrictUndefined`` (a misspelt field is an error, not an empty string).
The context is the Alertmanager payload's keys (``alerts``, ``status``, ``groupLabels``,
``commonLabels``, ``commonAnnotations``, ``externalURL``, ``groupKey``, ``receiver``,
``truncatedAlerts``) plus ``data`` (the whole payload); ``| tojson`` quotes values for JSON
bodies. Files from the config's ``templates:`` can be ``{% include %}``-d by file name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from alerter.notify.config import WebhookConfig
from alerter.notify.formats import Rendered


def environment(templates: Mapping[str, str]) -> SandboxedEnvironment:
    """The sandboxed, strict environment every ``template`` webhook renders in."""
    return SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False,
                                loader=jinja2.DictLoader(dict(templates)),
                                keep_trailing_newline=True)


def compile_check(source: str, path: str, templates: Mapping[str, str]) -> None:
    """Raise ``ValueError("<path>: template error ...")`` if ``source`` does not compile."""
    try:
        environment(templates).from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise ValueError(f"{path}: template error on line {exc.lineno}: {exc.message}") from None


def render(data: Mapping[str, Any], hook: WebhookConfig, templates: Mapping[str, str]) -> Rendered:
    """Render body and headers; raises ``jinja2.TemplateError`` on a failing template."""
    env = environment(templates)
    context = {**data, "data": data}
    body = env.from_string(hook.body).render(context)
    headers = {"Content-Type": hook.content_type}
    for name, source in hook.headers.items():
        headers[name] = env.from_string(source).render(context).strip()
    return Rendered(body.encode(), headers)
