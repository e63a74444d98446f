"""Go's text/template (Go 1.19) in Python: ``parse`` (lexer and parser), ``exec``
(executor and Go's builtin functions) and ``values`` (Go's types and ``fmt``), so alert
templates render exactly as Prometheus renders them. Prometheus's own functions are in
``alerter.templating``."""
