"""Prometheus template subset: outputs as Prometheus 2.42 renders them."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerter.templating import FUNCTIONS, TemplateError, compile_template
from tests.support import fuzz_examples

LABELS = {"device": "Kharagauli-ATM", "address": "10.199.78.163", "site": "Kharagauli",
          "type": "atm"}
EXT = {"monitor": "wardops"}


@pytest.mark.parametrize("text,value,expected", [
    ("{{ $labels.device }} ({{ $labels.address }})", 0, "Kharagauli-ATM (10.199.78.163)"),
    ("{{ .Labels.site }} {{ .Value }}", 2.5, "Kharagauli 2.5"),
    ("{{ $labels.nope }}|", 0, "|"),
    ("{{ $value }}", 1764344462.0, "1.764344462e+09"),
    ("{{ $value }}", 123456.0, "123456"),
    ("{{ $value }}", 0.25, "0.25"),
    ("{{ $value | humanize }}", 1234567.0, "1.235M"),
    ("{{ $value | humanize }}", 0.0012, "1.2m"),
    ("{{ humanize1024 $value }}", 1048576.0, "1Mi"),
    ("{{ $value | humanizeDuration }}", 372.0, "6m 12s"),
    ("{{ $value | humanizeDuration }}", 90061.0, "1d 1h 1m 1s"),
    ("{{ $value | humanizeDuration }}", 0.0123, "12.3ms"),
    ("{{ $value | humanizeDuration }}", 3.5, "3.5s"),
    ("{{ $value | humanizePercentage }}", 0.1234, "12.34%"),
    ("{{ $value | humanizeTimestamp }}", 1764344462.0, "2025-11-28 15:41:02 +0000 UTC"),
    ("{{ $value | humanizeTimestamp }}", 1764344462.5, "2025-11-28 15:41:02.5 +0000 UTC"),
    ('{{ printf "%.1f%% of %s" $value $labels.site }}', 12.345, "12.3% of Kharagauli"),
    ('{{ printf "%d" $value }}', 3.0, "%!d(float64=3)"),
    ("{{ range $k, $v := $labels }}{{ $k }}={{ $v }} {{ end }}", 0,
     "address=10.199.78.163 device=Kharagauli-ATM site=Kharagauli type=atm "),
    ('{{ define "d" }}<{{ . }}>{{ end }}{{ template "d" $labels.site }}', 0, "<Kharagauli>"),
    ("{{ 'a' }} {{ index \"abc\" 1 }} {{ print 1 2 \"x\" }}", 0, "97 98 1 2x"),
    ("{{ toUpper $labels.type }} {{ $labels.site | toLower }}", 0, "ATM kharagauli"),
    ('{{ title "payment kiosk" }}', 0, "Payment Kiosk"),
    ('{{ reReplaceAll "-(ATM)$" " ($1)" $labels.device }}', 0, "Kharagauli (ATM)"),
    ('{{ if match "^10\\\\." $labels.address }}private{{ end }}', 0, "private"),
    ("{{ if gt $value 0.5 }}high{{ else if gt $value 0.1 }}mid{{ else }}low{{ end }}", 0.3,
     "mid"),
    ('{{ if and (eq $labels.type "atm") (lt $value 1.0) }}atm-low{{ end }}', 0.5, "atm-low"),
    ("{{ with $labels.site }}at {{ . }}{{ end }}", 0, "at Kharagauli"),
    ("{{ $d := $labels.device }}{{ $d }}", 0, "Kharagauli-ATM"),
    ("a  {{- $labels.type -}}  b", 0, "aatmb"),
    ("{{/* a comment */}}x", 0, "x"),
    ("{{ $externalLabels.monitor }} {{ .ExternalLabels.monitor }}", 0, "wardops wardops"),
    ("{{ $externalURL }}", 0, "http://alerter:9470"),
    ('{{ "quoted \\"s\\"" }} {{ `raw` }}', 0, 'quoted "s" raw'),
    ("no actions at all", 0, "no actions at all"),
])
def test_render(text: str, value: float, expected: str) -> None:
    assert compile_template(text).render(LABELS, value, EXT, "http://alerter:9470") == expected


@pytest.mark.parametrize("text,error", [
    ('{{ lookup "up" }}', 'function "lookup" not defined'),
    ("{{ if $value }}x", "unexpected EOF"),
    ("{{ $nope }}", 'undefined variable "$nope"'),
    ("{{ end }}", "unexpected {{end}}"),
    ("{{ $labels.device ", "unclosed action"),
    ("{{ humanize ( $value }}", "unclosed left paren"),
    ("{{ | humanize }}", 'unexpected "|" in command'),
    ("{{ range $labels }}{{ else }}{{ break }}{{ end }}", "{{break}} outside {{range}}"),
])
def test_parse_errors(text: str, error: str) -> None:
    """Go's parser messages (tests/alerter/test_template_differential.py checks them
    against promtool's)."""
    with pytest.raises(TemplateError) as info:
        compile_template(text, "__alert_X")
    assert str(info.value) == f"template: __alert_X:1: {error}"


@pytest.mark.parametrize("text,error", [
    ("{{ humanize $labels.device }}", "<humanize $labels.device>: error calling humanize: "
     'strconv.ParseFloat: parsing "Kharagauli-ATM": invalid syntax'),
    ("{{ .Nope }}", "<.Nope>: can't evaluate field Nope in type struct { Labels "
     "map[string]string; ExternalLabels map[string]string; ExternalURL string; Value "
     "float64 }"),
    ("{{ gt $labels.site 1 }}",
     "<gt $labels.site 1>: error calling gt: incompatible types for comparison"),
    ('{{ reReplaceAll "(" "x" "y" }}', '<reReplaceAll "(" "x" "y">: error calling '
     "reReplaceAll: regexp: Compile(`(`): error parsing regexp: missing closing ): `(`"),
])
def test_expansion_errors_render_a_marker(text: str, error: str) -> None:
    rendered, problem = compile_template(text, "__alert_X").expand(LABELS, 1.0)
    # Prometheus's position: column 115 is after its 112-character $labels/$value prelude
    assert problem == ("error executing template __alert_X: template: __alert_X:1:115: "
                       f'executing "__alert_X" at {error}')
    assert rendered == f"<error expanding template: {problem}>"


def test_a_regex_built_to_backtrack_runs_in_linear_time() -> None:
    """reReplaceAll and match run in RE2 as in Go (Python's re takes minutes on this)."""
    text = "a" * 40 + "b"
    started = time.monotonic()
    rendered, problem = compile_template(
        f'{{{{ reReplaceAll "(a+)+$" "x" "{text}" }}}} {{{{ match "(a+)+$" "{text}" }}}}'
    ).expand(LABELS, 1.0)
    assert (rendered, problem) == (f"{text} false", None)
    assert time.monotonic() - started < 1


def test_parsed_once() -> None:
    assert compile_template("{{ $value }}") is compile_template("{{ $value }}")


# ---------------------------------------------------------------- totality (fuzzed)


_NAMES = sorted(FUNCTIONS)
_SHAPES = ["{{ $value | %s }}", "{{ %s $labels.a }}", "{{ %s $labels.a $value }}",
           "{{ %s $value $labels.a $labels.b }}", "{{ %s }}"]


@settings(max_examples=fuzz_examples(300), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(_NAMES), shape=st.sampled_from(_SHAPES),
       value=st.one_of(st.floats(), st.sampled_from([1e17, -1e17, 1e300, 2**63, -0.0])),
       a=st.text(max_size=30), b=st.one_of(st.text(max_size=10),
                                           st.sampled_from(["(a+)+$", "[", "%!", "\\Q"])))
def test_every_template_function_is_total(name: str, shape: str, value: float, a: str,
                                          b: str) -> None:
    """Any input to any function renders text or Prometheus's error marker; nothing raises
    (humanizeTimestamp(1e17) used to let OSError escape and crash the alerter)."""
    text, error = compile_template(shape % name).expand({"a": a, "b": b}, value)
    assert isinstance(text, str)
    if error is not None:
        assert text == f"<error expanding template: {error}>"


# ---------------------------------------------------------------- hostile templates

def test_nesting_deeper_than_the_stack_is_a_clear_load_error() -> None:
    for text in ("{{ if true }}" * 400 + "x" + "{{ end }}" * 400,
                 "{{ " + "(" * 400 + "1" + ")" * 400 + " }}"):
        with pytest.raises(TemplateError, match="nested too deeply"):
            compile_template(text, "__alert_Deep")


def test_a_template_calling_itself_stops_with_a_marker() -> None:
    text, error = compile_template(
        '{{ define "a" }}{{ template "a" . }}{{ end }}{{ template "a" . }}').expand({}, 1.0)
    assert error is not None and "exceeded maximum template depth" in error
    assert text == f"<error expanding template: {error}>"


def test_recursion_without_repeating_reaches_gos_limit_on_no_python_stack() -> None:
    """Each level passes a new dot, so no level repeats an earlier one: the walk goes the
    full 100,000 levels (Go's maxExecDepth) on its own stack, not Python's (a recursive
    walk died at about 200), and ends with Go's error at the call that hit the limit."""
    text, error = compile_template(
        '{{ define "a" }}{{ template "a" (args .) }}{{ end }}{{ template "a" 1 }}'
    ).expand({}, 1.0)
    assert error is not None and error.endswith(
        'executing "a" at <{{template "a" (args .)}}>: exceeded maximum template depth '
        "(100000)"), error
    assert text == f"<error expanding template: {error}>"


def test_a_width_of_a_billion_is_refused_as_go_refuses_it() -> None:
    """Go's fmt treats a width over a million as malformed instead of allocating it."""
    text = compile_template('{{ printf "%0999999999d" 1 }}').render({}, 1.0)
    assert text == "%!(NOVERB)%!(EXTRA int=1)"


_FRAGMENTS = ["{{", "}}", "{{-", "-}}", " ", "if", "else", "end", "range", "with", "define",
              "template", "block", "break", "continue", '"x"', "`y`", "'c'", "1", "-2.5e3",
              "0x1F", "$", "$labels", "$value", ".", ".Labels", ".a.b", "(", ")", "|", ":=",
              "=", ",", "printf", '"%d %s %v"', "index", "len", "eq", "lt", "and", "or",
              "not", "query", "first", "humanize", "args", "nil", "true", "/*", "*/",
              "text", "\n", "é", "\x00", "\ud800"]


@settings(max_examples=fuzz_examples(500), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=25),
       st.dictionaries(st.sampled_from(["a", "x", "Labels"]), st.text(max_size=8)),
       st.floats())
def test_any_template_loads_or_is_refused_and_never_crashes(parts: list[str],
                                                            labels: dict[str, str],
                                                            value: float) -> None:
    """Token soup from the template language: it parses or raises TemplateError; what
    parses expands to text or to the error marker; nothing else escapes."""
    try:
        template = compile_template("".join(parts), "__alert_Fuzz")
    except TemplateError as exc:
        assert str(exc).startswith("template: __alert_Fuzz")
        return
    text, error = template.expand(labels, value, query=lambda expr, at: [])
    assert isinstance(text, str)
    assert error is None or text == f"<error expanding template: {error}>"
