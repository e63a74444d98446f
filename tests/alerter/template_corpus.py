"""Alert templates that exercise Prometheus's template language, for the differential
test against the real Prometheus (tests/alerter/test_template_differential.py).

Each entry is (alert name, PromQL expression, template). The expressions give the
templates labels and values to work on without scraping anything; ``query`` runs
constant PromQL so both engines see the same answer.
"""

from __future__ import annotations

#: An expression with labels (``instance`` is host:port, ``__name__`` is kept for $labels).
LABELLED = ('label_replace(label_replace(label_replace(vector(1234567.891), "instance", '
            '"router-1.tbilisi.bank.ge:9100", "", ""), "__name__", "wardops_device_rtt", '
            '"", ""), "site", "Kharagauli Straße", "", "")')
#: Two series with a label, for ``query`` (order: as Prometheus answers the HTTP API).
TWO = ('label_replace(vector(3), "isp", "Silknet", "", "") or '
       'label_replace(vector(5), "isp", "Magti", "", "")')

CORPUS: list[tuple[str, str, str]] = [
    # --- values, labels and printing
    ("Value", "vector(1234567.891)", "{{ $value }} {{ .Value }} {{ printf `%v` $value }}"),
    ("SmallValue", "vector(0.000012)", "{{ $value }}|{{ humanize $value }}"),
    ("Labels", LABELLED,
     "{{ $labels.instance }} {{ $labels.__name__ }} [{{ $labels.nope }}] {{ .Labels.site }}"),
    ("ExternalLabels", "vector(1)",
     "{{ $externalLabels.monitor }} {{ .ExternalLabels.monitor }} {{ $externalURL }}"),
    ("PrintSpacing", "vector(2)", '{{ print 1 2 "a" "b" 3 $value true }}|{{ println 1 "x" }}'),
    ("NoValue", "vector(1)", "{{ $m := args }}[{{ $m.nope }}] {{ index $labels \"x\" }}."),
    # --- control structures
    ("RangeLabels", LABELLED,
     "{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}"),
    ("RangeElse", "vector(1)", "{{ range $externalLabels.none }}x{{ else }}empty{{ end }}"),
    ("RangeBreak", "vector(1)",
     "{{ range $i, $v := args 10 20 30 40 }}{{ if eq $i \"arg2\" }}{{ break }}{{ end }}"
     "{{ if eq $i \"arg0\" }}{{ continue }}{{ end }}{{ $i }}:{{ $v }} {{ end }}"),
    ("DefineTemplate", LABELLED,
     '{{ define "where" }}{{ .site }} ({{ .instance | stripPort }}){{ end }}'
     '{{ template "where" $labels }} / {{ block "more" . }}[{{ .Value }}]{{ end }}'),
    ("WithElse", "vector(0)",
     "{{ with $value }}nonzero{{ else }}zero{{ end }} {{ with $labels.site }}x{{ end }}."),
    ("IfChain", "vector(15)",
     "{{ if gt $value 20.0 }}crit{{ else if gt $value 10.0 }}warn{{ else }}ok{{ end }}"),
    ("AssignVar", "vector(1)",
     "{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }} {{ $y := \"s\" }}{{ $y }}"),
    ("AndOr", "vector(1)",
     '{{ and 1 0 "x" }}|{{ or 0 "" "first" "second" }}|{{ and "a" "b" }}|{{ not 0 }}'),
    ("TrimMarkers", "vector(1)", "a  {{- 1 -}}  b {{- /* c */ -}} c"),
    # --- query functions
    ("QueryFirst", "vector(1)",
     '{{ with query "vector(42)" }}{{ . | first | value }}{{ end }}'),
    ("QueryRange", "vector(1)",
     f'{{{{ range query `{TWO}` }}}}{{{{ .Labels.isp }}}}={{{{ .Value }}}} {{{{ end }}}}'),
    ("QuerySorted", "vector(1)",
     f'{{{{ range sortByLabel "isp" (query `{TWO}`) }}}}{{{{ label "isp" . }}}} {{{{ end }}}}'),
    ("QueryEmpty", "vector(1)",
     '{{ with query "vector(1) > 2" }}has{{ else }}none{{ end }}'),
    ("QueryFirstEmpty", "vector(1)", '{{ query "vector(1) > 2" | first | value }}'),
    ("QueryScalar", "vector(1)", '{{ query "scalar(vector(7))" | first | value }}'),
    ("QueryPrint", "vector(1)", '{{ query "vector(2)" | first }}'),
    ("StrValue", "vector(1)", '{{ query "vector(2)" | first | strvalue }}.'),
    # --- links and URLs
    ("Links", "vector(1)",
     '{{ graphLink "rate(x[5m]) > 0" }} {{ tableLink "up == 0" }} {{ pathPrefix }} '
     "{{ externalURL }}"),
    ("StripDomain", "vector(1)",
     '{{ stripDomain "router-1.tbilisi.bank.ge:9100" }} {{ stripDomain "10.0.0.1:80" }} '
     '{{ stripDomain "host.local" }} {{ stripPort "[::1]:9100" }} {{ stripPort "::1" }}'),
    # --- strings and case
    ("Case", "vector(1)",
     '{{ title "payment kiosk o\'neil 3rd_floor" }} {{ toUpper "straße ǆ" }} '
     '{{ toLower "İSTANBUL ÀB" }} {{ title "ǆemal" }}'),
    ("Match", "vector(1)",
     '{{ match "^[[:alpha:]]+$" "Kharagauli" }} {{ match `\\Qa.b\\E` "axb" }} '
     '{{ match `\\Qa.b\\E` "a.b" }} {{ match "(?i)ATM" "kharagauli-atm" }}'),
    ("ReplaceAll", "vector(1)",
     '{{ reReplaceAll "(\\\\w+)-(\\\\w+)" "$2 $1 ${1}x $1x $$" "atm-01" }}'),
    ("CharLiterals", "vector(1)", "{{ 'a' }} {{ '\\n' }} {{ printf \"%c%c\" 'o' 'k' }}"),
    ("IndexString", "vector(1)",
     '{{ index "abc" 1 }} {{ len "Straße" }} {{ slice "abcdef" 1 3 }} {{ index (args 5 6) "arg1" }}'),
    ("Escapers", "vector(1)",
     '{{ html "<a href=\\"x\\">&\'" }} {{ js "it\'s <x>" }} {{ urlquery "a b&c/d" }}'),
    # --- printf
    ("PrintfInts", "vector(3)",
     '{{ printf "%d|%5d|%-5d|%05d|%x|%X|%o|%b|%+d" 42 42 42 42 255 255 8 5 7 }}'),
    ("PrintfFloats", "vector(3.14159)",
     '{{ printf "%f|%.2f|%8.3f|%e|%E|%g|%.3g|%v|%G" $value $value $value $value $value '
     '$value $value $value 1e21 }}'),
    ("PrintfStrings", "vector(1)",
     '{{ printf "%s|%q|%10s|%-10s|%.3s|%x|%v|%T" "abc" "a\\"b" "r" "l" "abcdef" "hi" "v" "t" }}'),
    ("PrintfWrongVerbs", "vector(3)",
     '{{ printf "%d %s %t %x" $value $value "str" 1.5 }}'),
    ("PrintfMissingExtra", "vector(1)",
     '{{ printf "%s %d" "only" }}|{{ printf "%d" 1 2 "x" }}|{{ printf "%!" }}|{{ printf "%" }}'),
    ("PrintfMaps", LABELLED, '{{ printf "%v" (args 1 "x") }} {{ printf "%T" $labels }}'),
    ("PrintfNaN", "vector(NaN)", '{{ printf "%f %v %5.1f %e" $value $value $value $value }}'),
    ("PrintfInf", "vector(+Inf)", '{{ printf "%f|%v|%g|%+f" $value $value $value $value }}'),
    # --- humanize family and time
    ("Humanize", "vector(1234567.891)",
     "{{ humanize $value }} {{ humanize1024 1048576 }} {{ humanizeDuration 90061 }} "
     '{{ humanizeDuration 0.0123 }} {{ humanizePercentage 0.1234 }} {{ humanize "2048" }}'),
    ("HumanizeTimestamp", "vector(1764344462.5)",
     "{{ humanizeTimestamp $value }} | {{ humanizeTimestamp 1.0009 }} | "
     "{{ humanizeTimestamp -1.5 }} | {{ humanizeTimestamp 0 }}"),
    ("TimestampOutOfRange", "vector(1e17)", "{{ humanizeTimestamp $value }}"),
    ("ToTime", "vector(1764344462.25)",
     "{{ toTime $value }} {{ (toTime $value).Unix }} {{ $value | toTime }}"),
    ("ParseDuration", "vector(1)",
     '{{ parseDuration "1h30m" }} {{ parseDuration "90s" }} {{ parseDuration "1w2d" }} '
     '{{ parseDuration "0" }} {{ parseDuration "250ms" }}'),
    ("ParseDurationBad", "vector(1)", '{{ parseDuration "1.5h" }}'),
    ("HumanizeBad", LABELLED, "{{ humanize $labels.site }}"),
    # --- comparisons and type errors Go refuses
    ("CompareIntFloat", "vector(2)", "{{ gt $value 1 }}"),
    ("CompareFloatFloat", "vector(2)", "{{ gt $value 1.0 }} {{ le 1 2 }} {{ eq \"a\" \"b\" \"a\" }}"),
    ("CompareStrings", "vector(2)", '{{ lt "abc" "abd" }} {{ eq 1 2 3 1 }} {{ ne 1 2 }}'),
    ("EqIntString", "vector(2)", '{{ eq 1 "1" }}'),
    ("WrongArgType", "vector(2)", "{{ toUpper $value }}"),
    ("WrongArgCount", "vector(2)", '{{ humanize 1 2 }}'),
    ("FieldOnFloat", "vector(2)", "{{ $value.x }}"),
    ("MissingField", "vector(2)", "{{ .Nope }}"),
    ("RangeOverString", "vector(2)", '{{ range "abc" }}x{{ end }}'),
    ("NilCommand", "vector(2)", "{{ with $labels.x }}{{ . }}{{ end }}{{ len $labels }}"),
    ("Multiline", "vector(2)",
     "line one\n{{ if true }}\n  {{ humanize $value }}\n{{ end }}\n{{ gt $value 1 }}"),
    # --- template calls that never end: Go stops at 100,000 levels and names the call
    ("RecurseSelf", "vector(1)",
     '{{ define "a" }}{{ template "a" . }}{{ end }}{{ template "a" . }}'),
    ("RecurseThroughIf", "vector(1)",
     '{{ define "a" }}x{{ if . }}{{ template "a" . }}{{ end }}{{ end }}{{ template "a" . }}'),
    ("RecursePair", "vector(1)",
     '{{ define "a" }}{{ template "b" . }}{{ end }}{{ define "b" }}y{{ template "c" 1 }}'
     '{{ template "a" . }}{{ end }}{{ define "c" }}c{{ end }}{{ template "a" . }}'),
    ("RecurseThree", "vector(1)",
     '{{ define "a" }}{{ template "b" . }}{{ end }}{{ define "b" }}{{ template "c" . }}'
     '{{ end }}{{ define "c" }}{{ template "a" . }}{{ end }}{{ template "x" $labels }}'
     '{{ define "x" }}{{ template "a" 1 }}{{ end }}'),
    ("RecurseNewDot", "vector(1)",
     '{{ define "a" }}{{ if lt (len .) 3 }}{{ template "a" (printf "%sx" .) }}{{ end }}'
     '{{ template "a" . }}{{ end }}{{ template "a" "" }}'),
]

#: Label templates (labels are expanded like annotations).
LABEL_CORPUS: list[tuple[str, str, str]] = [
    ("LabelTemplate", "vector(15)",
     "{{ if gt $value 10.0 }}high{{ else }}low{{ end }}"),
    ("LabelError", "vector(15)", "{{ gt $value 10 }}"),
]

#: Templates promtool rejects; wardops must reject them at load too (same message).
REJECTED: list[str] = [
    '{{ nosuchfunction "x" }}',
    "{{ if $value }}x",
    "{{ $undefined }}",
    "{{ end }}",
    "{{ $labels.device ",
    "{{ humanize ( $value }}",
    "{{ | humanize }}",
    "{{ break }}",
    '{{ define "a" }}{{ $labels }}{{ end }}',
    "{{ range $a, $b, $c := $labels }}{{ end }}",
    "{{ 'ab' }}",
    "{{ 1.2.3 }}",
    '{{ "unterminated }}',
    "{{ else }}",
    "{{ with $value }}{{ else with $value }}{{ end }}",
    "{{ 99999999999999999999 }}",
    '{{ template "x" }}{{ define "x" }}a{{ end }}{{ define "x" }}b{{ end }}',
    "{{ $x := 1 }}{{ $x.y.z = 2 }}",
]
