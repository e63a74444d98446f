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
``.Value`` on the dot.

Alertmanager's own named templates (``email.default.html``, ``email.default.subject``,
``__subject``, ``slack.default.text`` ...) are read from Alertmanager's own files
(``default.tmpl`` and ``email.tmpl``, ``NamedTemplates``): from the directory the config
names, else from where Debian's ``prometheus-alertmanager`` package keeps them (the files
its Alertmanager reads). wardops ships no copy: the same file in the same engine gives
the same mail, and a config that calls them where no file is found is refused at load
with the reason. Without ``html``/``text`` a mail has wardops's bodies.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
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


_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)


def without_comments(source: str) -> str:
    """``source`` without HTML comments: html/template leaves them out of its output
    (a comment's text between actions is not modelled: Alertmanager's have none)."""
    return _HTML_COMMENT.sub("", source)


@lru_cache(maxsize=256)
def parse(source: str) -> dict[str, gparse.Tree]:
    """Parse once (cached); ``TemplateError`` with Go's message."""
    try:
        return gparse.parse(NAME, source, FUNCS, _VARIABLES)
    except gparse.ParseError as exc:
        raise TemplateError(str(exc)) from None
    except RecursionError:
        raise TemplateError("template: nested too deeply") from None


#: where Debian's ``prometheus-alertmanager`` keeps the default templates its Alertmanager
#: reads (upstream builds embed the same files)
DEFAULT_TEMPLATES_DIR = "/usr/share/prometheus/alertmanager"
TEMPLATE_FILES = ("default.tmpl", "email.tmpl")  # Alertmanager's FromGlobs reads these two


@dataclass(frozen=True)
class NamedTemplates:
    """Alertmanager's named templates (``email.default.html``, ``__subject`` ...) as
    parsed from its own files; ``directory`` is "" when none were found."""

    directory: str = ""
    trees: Mapping[str, gparse.Tree] = field(default_factory=dict, repr=False, compare=False)
    #: the same for ``html``: parsed without HTML comments, which html/template drops
    html_trees: Mapping[str, gparse.Tree] = field(default_factory=dict, repr=False,
                                                  compare=False)

    def missing_hint(self) -> str:
        """Why a name such as ``email.default.html`` may be undefined here."""
        if self.directory:
            return f"Alertmanager's named templates are read from {self.directory}"
        return (f"Alertmanager's named templates (email.default.html, __subject ...) are "
                f"read from its own {' and '.join(TEMPLATE_FILES)}: none in "
                f"{DEFAULT_TEMPLATES_DIR} (Debian's prometheus-alertmanager package); set "
                "alertmanager_templates_dir to a directory that has them")


def load_named(directory: Path | str) -> NamedTemplates:
    """Parse ``default.tmpl`` and ``email.tmpl`` in ``directory`` as Alertmanager does
    (into the template named "", keeping what they ``define``). Raises ``ValueError``
    naming the file when one is missing or does not parse."""
    trees: dict[str, gparse.Tree] = {}
    html_trees: dict[str, gparse.Tree] = {}
    for name in TEMPLATE_FILES:
        file = Path(directory) / name
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"cannot read {file}: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise ValueError(f"{file}: not UTF-8 text: {exc.reason}") from None
        for into, source in ((trees, text), (html_trees, without_comments(text))):
            try:
                found = gparse.parse(NAME, source, FUNCS)
            except gparse.ParseError as exc:
                raise ValueError(f"{file}: {exc}") from None
            found.pop(NAME, None)
            into.update(found)
    return NamedTemplates(str(directory), trees, html_trees)


@lru_cache(maxsize=1)
def discovered() -> NamedTemplates:
    """The named templates in ``DEFAULT_TEMPLATES_DIR``, or none when it lacks the files."""
    if not all((Path(DEFAULT_TEMPLATES_DIR) / name).is_file() for name in TEMPLATE_FILES):
        return NamedTemplates()
    return load_named(DEFAULT_TEMPLATES_DIR)


def render(source: str, payload: Mapping[str, Any], *, html: bool = False,
           named: NamedTemplates | None = None) -> str:
    """``source`` expanded with Alertmanager's data for ``payload``; ``html`` escapes
    what it prints; ``named`` (default: ``discovered()``) are the named templates it may
    call, and its own ``define``s replace them as in Go. Raises ``TemplateError`` (parse)
    or ``ExecError`` (execution)."""
    data = template_data(payload)
    variables = [(name, data.fields[key])
                 for name, key in zip(_VARIABLES, ("Labels", "Value", "ExternalURL"),
                                        strict=True)]
    named = named if named is not None else discovered()
    if html:
        trees = {**named.html_trees, **parse(without_comments(source))}
    else:
        trees = {**named.trees, **parse(source)}
    return execute(trees, NAME, data, FUNCS, variables, escape=html_escape if html else None)


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


__all__ = ["DEFAULT_TEMPLATES_DIR", "FUNCS", "KV", "Alerts", "ExecError", "NamedTemplates",
           "Pairs", "TemplateError", "discovered", "html_escape", "load_named", "parse",
           "render", "sample_payload", "template_data"]

