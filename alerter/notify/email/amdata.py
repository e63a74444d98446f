"""Alertmanager's notification template data and functions, for the ``html``, ``text`` and
``headers`` templates of ``email_configs``.

The dot is Alertmanager's ``template.Data`` (``.Receiver``, ``.Status``, ``.Alerts`` with
``.Firing``/``.Resolved``, ``.GroupLabels``, ``.CommonLabels``, ``.CommonAnnotations``
— ``KV`` with ``SortedPairs``, ``Names``, ``Values``, ``Remove`` — and ``.ExternalURL``;
each alert with ``.Status``, ``.Labels``, ``.Annotations``, ``.StartsAt``/``.EndsAt``
(``time.Time``), ``.GeneratorURL``, ``.Fingerprint``), built from the same payload every
format renders. The functions are Alertmanager's ``DefaultFuncs`` (``toUpper``,
``toLower``, ``title``, ``trimSpace``, ``join``, ``match``, ``safeHtml``,
``reReplaceAll``, ``stringSlice``) with Go's builtins, run by the Go text/template port
(``alerter.gotmpl``). The ``html`` template escapes what it prints as Go's html/template
does in element text and quoted attributes (``safeHtml`` output is not escaped);
html/template's other contexts (URL normalisation, script, style) are not modelled.

wardops's earlier e-mail variables stay: ``$labels`` (common and group labels),
``$value`` (the number of firing alerts) and ``$externalURL``, with ``.Labels`` and
``.Value`` on the dot. Alertmanager's own named templates (``email.default.html``,
``__subject``) are not bundled: without ``html``/``text`` a mail has wardops's bodies.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from alerter.gotmpl import parse as gparse
from alerter.gotmpl.exec import BUILTINS, ExecError, Func, FuncError, execute
from alerter.gotmpl.values import HTML, METHODS, GoTime, Struct
from alerter.templating import FUNCTIONS, TemplateError, go_lower, go_upper

NAME = ""  # Alertmanager parses html/text as the template named ""
_VARIABLES = ("$labels", "$value", "$externalURL")  # wardops's earlier e-mail variables
_ZERO_TIME_NS = -62135596800 * 1_000_000_000  # Go's time.Time{}: 0001-01-01 00:00:00 UTC


class Pairs(list[Struct]):
    """Alertmanager's ``template.Pairs``: ``Pair{Name, Value}`` in order."""

    GO_TYPE = "template.Pairs"

    def Names(self) -> list[str]:
        return [p.fields["Name"] for p in self]

    def Values(self) -> list[str]:
        return [p.fields["Value"] for p in self]


class KV(dict[str, str]):
    """Alertmanager's ``template.KV`` (labels, annotations): a map with methods."""

    GO_TYPE = "template.KV"

    def SortedPairs(self) -> Pairs:
        """By name, ``alertname`` first."""
        names = sorted(self, key=lambda k: (k != "alertname", k))
        return Pairs(Struct("template.Pair", {"Name": k, "Value": self[k]}) for k in names)

    def Names(self) -> list[str]:
        return self.SortedPairs().Names()

    def Values(self) -> list[str]:
        return self.SortedPairs().Values()

    def Remove(self, keys: object) -> KV:
        if not isinstance(keys, list):
            raise FuncError(f"wrong type for value; expected []string; got {type(keys)}")
        return KV({k: v for k, v in self.items() if k not in keys})


class Alerts(list[Struct]):
    """Alertmanager's ``template.Alerts``."""

    GO_TYPE = "template.Alerts"

    def Firing(self) -> list[Struct]:
        return [a for a in self if a.fields["Status"] == "firing"]

    def Resolved(self) -> list[Struct]:
        return [a for a in self if a.fields["Status"] == "resolved"]


METHODS.update({
    # (no String: Alertmanager 0.25 prints a KV as a map, later versions as "a=b, c=d")
    KV: frozenset({"SortedPairs", "Names", "Values", "Remove"}),
    Pairs: frozenset({"Names", "Values"}),
    Alerts: frozenset({"Firing", "Resolved"}),
})


def _time(text: str) -> GoTime:
    if not text or text.startswith("0001-"):
        return GoTime(_ZERO_TIME_NS)
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return GoTime(int(dt.timestamp()) * 1_000_000_000 + dt.microsecond * 1000)


def template_data(payload: Mapping[str, Any]) -> Struct:
    """Alertmanager's ``template.Data`` from the version-4 payload (``build_payload``)."""
    alerts = Alerts(Struct("template.Alert", {
        "Status": a["status"], "Labels": KV(a["labels"]), "Annotations": KV(a["annotations"]),
        "StartsAt": _time(a["startsAt"]), "EndsAt": _time(a["endsAt"]),
        "GeneratorURL": a["generatorURL"], "Fingerprint": a["fingerprint"]})
        for a in payload["alerts"])
    firing = float(sum(1 for a in payload["alerts"] if a["status"] == "firing"))
    return Struct("*template.Data", {
        # Alertmanager quotes the receiver's name as a regexp (regexp.QuoteMeta)
        "Receiver": re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", payload["receiver"]),
        "Status": payload["status"], "Alerts": alerts,
        "GroupLabels": KV(payload["groupLabels"]), "CommonLabels": KV(payload["commonLabels"]),
        "CommonAnnotations": KV(payload["commonAnnotations"]),
        "ExternalURL": payload["externalURL"],
        # wardops's earlier e-mail template data (also $labels and $value)
        "Labels": {**payload["commonLabels"], **payload["groupLabels"]}, "Value": firing})


def _title(text: str) -> str:
    """``cases.Title(language.AmericanEnglish)``: each word's first letter upper, the
    rest lower."""
    return re.sub(r"[^\W_]+(?:'[^\W_]+)*",
                  lambda m: go_upper(m[0][:1]) + go_lower(m[0][1:]), text)


def _join(sep: str, items: object) -> str:
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise FuncError(f"wrong type for value; expected []string; got {type(items).__name__}")
    return sep.join(items)


def _as_strings(*items: str) -> list[str]:
    return list(items)


#: Alertmanager's ``DefaultFuncs`` and Go's builtins
FUNCS: dict[str, Func] = {
    **BUILTINS,
    "toUpper": Func(go_upper, ("string",)),
    "toLower": Func(go_lower, ("string",)),
    "title": Func(_title, ("string",)),
    "trimSpace": Func(lambda s: s.strip(" \t\n\r\v\f\u0085\u00a0"), ("string",)),
    "join": Func(_join, ("string", "any")),
    "match": FUNCTIONS["match"],
    "safeHtml": Func(HTML, ("string",)),
    "reReplaceAll": FUNCTIONS["reReplaceAll"],
    "stringSlice": Func(_as_strings, (), "string"),
}

_HTML_ESCAPES = {"\0": "\ufffd", '"': "&#34;", "&": "&amp;", "'": "&#39;", "+": "&#43;",
                 "<": "&lt;", ">": "&gt;"}
_HTML_SPECIAL = re.compile("[\0\"&'+<>]")


def html_escape(text: str) -> str:
    """html/template's escaper for text and quoted attribute values."""
    return _HTML_SPECIAL.sub(lambda m: _HTML_ESCAPES[m[0]], text)


@lru_cache(maxsize=256)
def parse(source: str) -> dict[str, gparse.Tree]:
    """Parse once (cached); ``TemplateError`` with Go's message."""
    try:
        return gparse.parse(NAME, source, FUNCS, _VARIABLES)
    except gparse.ParseError as exc:
        raise TemplateError(str(exc)) from None
    except RecursionError:
        raise TemplateError("template: nested too deeply") from None


def render(source: str, payload: Mapping[str, Any], *, html: bool = False) -> str:
    """``source`` expanded with Alertmanager's data for ``payload``; ``html`` escapes
    what it prints. Raises ``TemplateError`` (parse) or ``ExecError`` (execution)."""
    data = template_data(payload)
    variables = [(name, data.fields[field])
                 for name, field in zip(_VARIABLES, ("Labels", "Value", "ExternalURL"),
                                        strict=True)]
    return execute(parse(source), NAME, data, FUNCS, variables,
                   escape=html_escape if html else None)


def sample_payload(labels: Mapping[str, str], external_url: str) -> dict[str, Any]:
    """A firing and a resolved alert of one group, for the load-time check of templates."""
    def alert(status: str, device: str, ends: str) -> dict[str, Any]:
        return {"status": status, "labels": {**labels, "device": device},
                "annotations": {"summary": f"{device} is DOWN"},
                "startsAt": "2026-01-01T00:00:00Z", "endsAt": ends,
                "generatorURL": "http://prometheus.example/graph", "fingerprint": "0" * 16}
    return {"receiver": "sample", "status": "firing",
            "alerts": [alert("firing", "sample-1", "0001-01-01T00:00:00Z"),
                       alert("resolved", "sample-2", "2026-01-01T00:05:00Z")],
            "groupLabels": {"site": labels.get("site", "")}, "commonLabels": dict(labels),
            "commonAnnotations": {}, "externalURL": external_url}


__all__ = ["FUNCS", "KV", "Alerts", "ExecError", "Pairs", "TemplateError", "html_escape",
           "parse", "render", "sample_payload", "template_data"]

