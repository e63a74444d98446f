"""The one way wardops reads YAML: bounded, strict, and with one-line errors.

Every config, inventory, rule file and imported Alertmanager config goes through
``load_yaml`` / ``read_yaml``. On top of PyYAML's safe loader (no Python objects, C
parser when present) it refuses what a hand-written config never needs and a hostile
or broken one uses to hang or mislead:

- a file larger than ``MAX_BYTES`` (checked before parsing);
- nesting deeper than ``MAX_DEPTH`` (PyYAML's composer recurses: a deep document would
  otherwise end in RecursionError, or worse in the C stack);
- alias expansion ("billion laughs"): the document's size with every alias expanded
  must stay under ``MAX_NODES``, and an alias may not contain itself;
- a key given twice in one mapping (PyYAML keeps the last one silently: a device whose
  ``address`` appears twice would be probed at an address nobody reviewed). ``<<``
  merge keys are allowed, as in YAML 1.1.

Errors are ``ConfigError`` with a one-line message naming the file and line.

``texts``: a reader that must see a value as Go's YAML library hands it to a string field
(Alertmanager's ``match: {ratio: 0.50}`` compares the text ``0.50``; PyYAML has made it
the float 0.5) passes a dict, which gets the source text of every unquoted scalar YAML
reads as a bool, int, float or date, keyed by its path (``route.routes[0].match.ratio``).
"""

from __future__ import annotations

from pathlib import Path

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from wardops_common.text import one_line

try:  # libyaml: ~10x faster on a 100,000-device inventory
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _Loader

#: inventories of 100,000 devices are ~20 MB
MAX_BYTES = 64 * 1024 * 1024
#: configs nest a dozen levels; matchers in routes a few more
MAX_DEPTH = 64
#: nodes after expanding every alias (a 100,000-device inventory has ~2 million)
MAX_NODES = 10_000_000
#: errors in documents up to this size are retold by the pure-Python parser
_RETELL_LIMIT = 256 * 1024


class ConfigError(ValueError):
    """A config, inventory or rule file that cannot be used; ``str()`` is one line (any
    control character a quoted name brings in is shown escaped)."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


def _where(source: str, mark: object) -> str:
    line = getattr(mark, "line", None)
    return f"{source}: line {line + 1}: " if isinstance(line, int) else f"{source}: "


def _check_depth(text: str, source: str) -> None:
    """Refuse deep nesting from the event stream (iterative: any depth is safe to scan)."""
    depth = 0
    loader = _Loader(text)
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    raise ConfigError(f"{_where(source, event.start_mark)}invalid YAML: nested "
                                      f"deeper than {MAX_DEPTH} levels")
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
    finally:
        loader.dispose()


def _check_nodes(root: Node, source: str) -> None:
    """Expanded size (aliases counted each time they are used), recursion, duplicate keys.

    Sizes are memoised per node, so the walk is linear in the document as written even
    when its expansion is astronomically large."""
    size: dict[int, int] = {}
    on_path: set[int] = set()
    # iterative post-order walk: (node, children done?)
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            children = _children(node)
            total = 1 + sum(size[id(c)] for c in children)
            if total > MAX_NODES:
                raise ConfigError(f"{_where(source, node.start_mark)}invalid YAML: aliases "
                                  f"expand to more than {MAX_NODES:,} nodes")
            size[key] = total
            continue
        if key in size:
            continue
        if key in on_path:
            raise ConfigError(f"{_where(source, node.start_mark)}invalid YAML: an alias "
                              "refers to a node that contains it")
        on_path.add(key)
        if isinstance(node, MappingNode):
            _no_duplicate_keys(node, source)
        stack.append((node, True))
        for child in _children(node):
            if id(child) not in size:
                stack.append((child, False))


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _key_value(key: ScalarNode) -> object:
    """The Python value a mapping key becomes: ``on`` and ``yes`` are both True (and equal
    to 1), so two such keys are one key of the resulting dict."""
    if key.tag in _TYPED:
        return SafeConstructor().construct_object(key)
    return key.value


def _no_duplicate_keys(node: MappingNode, source: str) -> None:
    seen: set[object] = set()
    for key, _ in node.value:
        if not isinstance(key, ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
            continue
        ident = _key_value(key)
        if ident in seen:
            raise ConfigError(f"{_where(source, key.start_mark)}invalid YAML: key "
                              f"{key.value!r} is given twice in one mapping"
                              + ("" if isinstance(ident, str) else
                                 f" (as {ident!r}: quote keys such as on, yes or 1)"))
        seen.add(ident)


def _python_parser_error(text: str) -> yaml.YAMLError | None:
    """The pure-Python parser's error for ``text``: libyaml's messages are terser ("did
    not find expected key") than PyYAML's ("expected <block end>, but found '-'")."""
    if len(text) > _RETELL_LIMIT or "[" * 64 in text or "{" * 64 in text:
        return None  # PyYAML's scanner is quadratic on deep flow nesting
    try:
        loader = yaml.SafeLoader(text)
        try:
            while loader.check_event():
                loader.get_event()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        return exc
    return None


_TYPED = {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
          "tag:yaml.org,2002:timestamp"}
_STR = "tag:yaml.org,2002:str"


def _scalar_texts(root: Node, texts: dict[str, str]) -> None:
    """Fill ``texts`` with path -> source text of the plain bool/int/float scalars under
    ``root`` (iterative; ``<<`` merges are not followed). A plain typed key (``on: x``, a
    key True) is in the path as its Python value (``match.True``) and its own text is at
    that path plus ``#key``."""
    stack: list[tuple[Node, str]] = [(root, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, ScalarNode):
            if node.tag in _TYPED and not node.style:  # plain: None (PyYAML) or "" (libyaml)
                texts[path] = node.value
        elif isinstance(node, SequenceNode):
            stack.extend((child, f"{path}[{i}]") for i, child in enumerate(node.value))
        elif isinstance(node, MappingNode):
            for key, value in node.value:
                if isinstance(key, ScalarNode) and key.tag == _STR:
                    stack.append((value, f"{path}.{key.value}" if path else key.value))
                elif isinstance(key, ScalarNode) and key.tag in _TYPED and not key.style:
                    child = f"{path}.{_key_value(key)}" if path else str(_key_value(key))
                    texts[child + "#key"] = key.value
                    stack.append((value, child))


def load_yaml(text: str, source: str, texts: dict[str, str] | None = None) -> object:
    """Parse one YAML document from ``text`` (``source`` names it in errors).

    Returns plain Python data (dicts, lists, str, int, float, bool, None, dates); None for
    an empty document. ``texts``, when given, gets the source text of unquoted typed
    scalars (see the module's docstring). Raises ``ConfigError``."""
    if len(text) > MAX_BYTES:
        raise ConfigError(f"{source}: larger than {MAX_BYTES // 2**20} MiB")
    try:
        _check_depth(text, source)
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _check_nodes(node, source)
            if texts is not None:
                _scalar_texts(node, texts)
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        if "nesting depth" not in str(getattr(exc, "problem", "")):
            exc = _python_parser_error(text) or exc
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{_where(source, mark)}invalid YAML: {problem}") from None
    except (ValueError, OverflowError, RecursionError) as exc:
        if isinstance(exc, ConfigError):
            raise
        # e.g. a timestamp PyYAML's constructor cannot represent (year 0)
        raise ConfigError(f"{source}: invalid YAML value: {exc}") from None


def read_yaml(path: Path | str, texts: dict[str, str] | None = None) -> object:
    """Read ``path`` (UTF-8, at most ``MAX_BYTES``) and parse it with ``load_yaml``."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_BYTES // 2**20} MiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text: {exc.reason} at byte {exc.start}") \
            from None
    return load_yaml(text, str(path), texts)
