"""Certificates for TLS tests, generated per test: the project's own example CA
(``wardops_common.examplecerts``), valid for a day."""

from wardops_common.examplecerts import CA, Pair

__all__ = ["CA", "Pair"]
