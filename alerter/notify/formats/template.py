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
from typing import TYPE_CHECKING, Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from alerter.model import Alert
from alerter.notify.formats.alertmanager import build_payload
from alerter.notify.formats.rendered import Rendered
from wardops_common.text import text_problem

if TYPE_CHECKING:  # annotations only: the formats must not import the config at run time
    from alerter.notify.config import WebhookConfig


def environment(templates: Mapping[str, str]) -> SandboxedEnvironment:
    """The sandboxed, strict environment every ``template`` webhook renders in."""
    return SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False,
                                loader=jinja2.DictLoader(dict(templates)),
                                keep_trailing_newline=True)


def sample_payload() -> dict[str, Any]:
    """A realistic group (one firing and one resolved DeviceDown at one site) to render
    every template with while the config loads."""
    labels = {"alertname": "DeviceDown", "severity": "critical", "site": "Sample-Branch",
              "type": "router", "region": "Sample"}
    alerts = [
        Alert(labels={**labels, "device": "Sample-Router", "address": "192.0.2.1"},
              annotations={"summary": "Sample-Router is down", "description": "No reply."},
              state="firing", starts_at=1_767_225_600.0,
              generator_url="http://alerter.example:9470/api/v1/rules#devices"),
        Alert(labels={**labels, "device": "Sample-ATM", "address": "192.0.2.2"},
              annotations={"summary": "Sample-ATM is down", "description": "No reply."},
              state="resolved", starts_at=1_767_225_600.0, ends_at=1_767_229_200.0,
              generator_url="http://alerter.example:9470/api/v1/rules#devices"),
    ]
    return build_payload(receiver="sample", group_key='{}:{site="Sample-Branch"}',
                         group_labels={"site": "Sample-Branch"}, alerts=alerts,
                         external_url="http://alerter.example:9470", sequence=1)


def compile_check(source: str, path: str, templates: Mapping[str, str]) -> None:
    """Raise ``ValueError("<path>: template error ...")`` if ``source`` does not compile,
    or fails when rendered with ``sample_payload()``.

    The sample render uses a lenient undefined (a label the sample lacks renders empty):
    it finds what fails whatever the alert (``1/0``, a filter given the wrong type, an
    index out of range, a bad include), not the fields only real alerts carry."""
    try:
        environment(templates).from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise ValueError(f"{path}: template error on line {exc.lineno}: {exc.message}") from None
    lenient = SandboxedEnvironment(undefined=jinja2.ChainableUndefined, autoescape=False,
                                   loader=jinja2.DictLoader(dict(templates)),
                                   keep_trailing_newline=True)
    data = sample_payload()
    try:
        lenient.from_string(source).render({**data, "data": data})
    except Exception as exc:  # any failure is the template's, reported whole
        raise ValueError(f"{path}: fails on a sample alert: {type(exc).__name__}: "
                         f"{exc}") from None


def render(data: Mapping[str, Any], hook: WebhookConfig, templates: Mapping[str, str]) -> Rendered:
    """Render body and headers; raises ``jinja2.TemplateError`` on a failing template."""
    env = environment(templates)
    context = {**data, "data": data}
    body = env.from_string(hook.body).render(context)
    headers = {"Content-Type": hook.content_type}
    for name, source in hook.headers.items():
        headers[name] = _header_value(env.from_string(source).render(context).strip())
    return Rendered(body.encode(), headers)


def _header_value(value: str) -> str:
    """A rendered header value safe to send: every character a header may not carry (CR,
    LF, other controls, as a label value from anywhere may hold) becomes a space, so the
    notification is delivered instead of refused by the HTTP client."""
    if text_problem(value) is None:
        return value
    return "".join(" " if text_problem(ch) else ch for ch in value)
