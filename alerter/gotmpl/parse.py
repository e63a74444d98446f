"""Go's text/template lexer and parser (Go 1.19, the version Prometheus 2.42 is built with).

A port of ``text/template/parse``: the same tokens, the same trees, the same error
messages and positions, so a template Prometheus accepts is accepted here and one it
rejects is rejected with the same words. Positions are character offsets; error messages
convert them to Go's byte columns.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Container, Sequence
from dataclasses import dataclass, field

from alerter.gotmpl.values import go_quote

SPACE = " \t\r\n"


class ParseError(ValueError):
    """A template Go's parser rejects; the message is Go's."""


# --------------------------------------------------------------------------- lexer

@dataclass(slots=True)
class Item:
    typ: str   # "text", "{{", "}}", "space", "ident", "field", "var", "string", "raw", ...
    pos: int
    val: str
    line: int


_KEYWORDS = {".": "dot", "block": "block", "break": "break", "continue": "continue",
             "define": "define", "else": "else", "end": "end", "if": "if",
             "range": "range", "nil": "nil", "template": "template", "with": "with"}


def _alnum(ch: str) -> bool:
    return ch == "_" or ch.isalpha() or unicodedata.category(ch) == "Nd"


def _uplus(ch: str) -> str:
    """Go's ``%#U``: ``U+0029 ')'``."""
    return f"U+{ord(ch):04X} '{ch}'" if ch.isprintable() else f"U+{ord(ch):04X}"


class _Lexer:
    def __init__(self, text: str) -> None:
        self.input = text
        self.pos = 0
        self.start = 0
        self.paren = 0
        self.items: list[Item] = []

    def _line(self, pos: int) -> int:
        return 1 + self.input.count("\n", 0, pos)

    def emit(self, typ: str) -> None:
        self.items.append(Item(typ, self.start, self.input[self.start:self.pos],
                               self._line(self.start)))
        self.start = self.pos

    def ignore(self) -> None:
        self.start = self.pos

    def error(self, message: str) -> None:
        self.items.append(Item("error", self.start, message, self._line(self.start)))

    def peek(self) -> str:
        return self.input[self.pos] if self.pos < len(self.input) else ""

    def at_right_delim(self) -> tuple[bool, bool]:
        s = self.input
        p = self.pos
        if p + 1 < len(s) and s[p] in SPACE and s[p + 1] == "-" and s.startswith("}}", p + 2):
            return True, True
        return s.startswith("}}", p), False

    def at_terminator(self) -> bool:
        ch = self.peek()
        return ch == "" or ch in SPACE or ch in ".,|:()" or self.input.startswith("}}", self.pos)

    def run(self) -> list[Item]:
        s = self.input
        while True:
            # lexText
            x = s.find("{{", self.pos)
            if x < 0:
                self.pos = len(s)
                if self.pos > self.start:
                    self.emit("text")
                self.emit("EOF")
                return self.items
            self.pos = x
            trim = 0
            if len(s) >= x + 4 and s[x + 2] == "-" and s[x + 3] in SPACE:
                trim = len(s[self.start:x]) - len(s[self.start:x].rstrip(SPACE))
            self.pos -= trim
            if self.pos > self.start:
                self.emit("text")
            self.pos += trim
            self.ignore()
            if not self._left_delim():
                return self.items

    def _left_delim(self) -> bool:
        s = self.input
        self.pos += 2
        after = 2 if s.startswith("-", self.pos) and self.pos + 1 < len(s) \
            and s[self.pos + 1] in SPACE else 0
        if s.startswith("/*", self.pos + after):
            self.pos += after
            self.ignore()
            return self._comment()
        self.emit("{{")
        self.pos += after
        self.ignore()
        self.paren = 0
        return self._inside_action()

    def _comment(self) -> bool:
        s = self.input
        self.pos += 2
        i = s.find("*/", self.pos)
        if i < 0:
            self.error("unclosed comment")
            return False
        self.pos = i + 2
        delim, trim = self.at_right_delim()
        if not delim:
            self.error("comment ends before closing delimiter")
            return False
        if trim:
            self.pos += 2
        self.pos += 2
        if trim:
            self.pos += len(s[self.pos:]) - len(s[self.pos:].lstrip(SPACE))
        self.ignore()
        return True

    def _right_delim(self) -> bool:
        s = self.input
        trim = self.pos + 1 < len(s) and s[self.pos] in SPACE and s[self.pos + 1] == "-"
        if trim:
            self.pos += 2
            self.ignore()
        self.pos += 2
        self.emit("}}")
        if trim:
            self.pos += len(s[self.pos:]) - len(s[self.pos:].lstrip(SPACE))
            self.ignore()
        return True

    def _inside_action(self) -> bool:
        s = self.input
        while True:
            delim, _ = self.at_right_delim()
            if delim:
                if self.paren == 0:
                    return self._right_delim()
                self.error("unclosed left paren")
                return False
            if self.pos >= len(s):
                self.error("unclosed action")
                return False
            ch = s[self.pos]
            self.pos += 1
            if ch in SPACE:
                spaces = 1
                while self.peek() != "" and self.peek() in SPACE:
                    self.pos += 1
                    spaces += 1
                p = self.pos - 1
                if p + 1 < len(s) and s[p] in SPACE and s[p + 1] == "-" \
                        and s.startswith("}}", p + 2):
                    self.pos -= 1
                    if spaces == 1:
                        return self._right_delim()
                self.emit("space")
            elif ch == "=":
                self.emit("=")
            elif ch == ":":
                if self.peek() != "=":
                    self.error("expected :=")
                    return False
                self.pos += 1
                self.emit(":=")
            elif ch == "|":
                self.emit("|")
            elif ch == '"':
                if not self._quote('"', "unterminated quoted string", "string"):
                    return False
            elif ch == "`":
                end = s.find("`", self.pos)
                if end < 0:
                    self.error("unterminated raw quoted string")
                    return False
                self.pos = end + 1
                self.emit("raw")
            elif ch == "$":
                if self.at_terminator():
                    self.emit("var")
                elif not self._field_or_var("var"):
                    return False
            elif ch == "'":
                if not self._quote("'", "unterminated character constant", "char"):
                    return False
            elif ch == "." and not (self.pos < len(s) and s[self.pos].isdigit()
                                    and s[self.pos] < "\x80"):
                if not self._field_or_var("field"):
                    return False
            elif ch in "+-." or "0" <= ch <= "9":
                self.pos -= 1
                if not self._number():
                    return False
            elif _alnum(ch):
                self.pos -= 1
                if not self._identifier():
                    return False
            elif ch == "(":
                self.emit("(")
                self.paren += 1
            elif ch == ")":
                self.emit(")")
                self.paren -= 1
                if self.paren < 0:
                    self.error(f"unexpected right paren {_uplus(ch)}")
                    return False
            elif ch < "\x80" and ch.isprintable():
                self.emit("char")
            else:
                self.error(f"unrecognized character in action: {_uplus(ch)}")
                return False

    def _quote(self, quote: str, unterminated: str, typ: str) -> bool:
        s = self.input
        while True:
            ch = s[self.pos] if self.pos < len(s) else ""
            self.pos += 1
            if ch == "\\":
                nxt = s[self.pos] if self.pos < len(s) else ""
                self.pos += 1
                if nxt not in ("", "\n"):
                    continue
                ch = ""
            if ch in ("", "\n"):
                self.pos = min(self.pos, len(s))
                self.error(unterminated)
                return False
            if ch == quote:
                self.emit(typ)
                return True

    def _field_or_var(self, typ: str) -> bool:
        if self.at_terminator():
            self.emit("var" if typ == "var" else "dot")
            return True
        s = self.input
        while self.pos < len(s) and _alnum(s[self.pos]):
            self.pos += 1
        if not self.at_terminator():
            self.error(f"bad character {_uplus(self.peek())}")
            return False
        self.emit(typ)
        return True

    def _identifier(self) -> bool:
        s = self.input
        while self.pos < len(s) and _alnum(s[self.pos]):
            self.pos += 1
        word = s[self.start:self.pos]
        if not self.at_terminator():
            self.error(f"bad character {_uplus(self.peek())}")
            return False
        if word in _KEYWORDS:
            self.emit(_KEYWORDS[word])
        elif word in ("true", "false"):
            self.emit("bool")
        else:
            self.emit("ident")
        return True

    def _accept(self, valid: str) -> bool:
        if self.pos < len(self.input) and self.input[self.pos] in valid:
            self.pos += 1
            return True
        return False

    def _accept_run(self, valid: str) -> None:
        while self._accept(valid):
            pass

    def _scan_number(self) -> bool:
        self._accept("+-")
        digits = "0123456789_"
        if self._accept("0"):
            if self._accept("xX"):
                digits = "0123456789abcdefABCDEF_"
            elif self._accept("oO"):
                digits = "01234567_"
            elif self._accept("bB"):
                digits = "01_"
        self._accept_run(digits)
        if self._accept("."):
            self._accept_run(digits)
        if len(digits) == 11 and self._accept("eE"):
            self._accept("+-")
            self._accept_run("0123456789_")
        if len(digits) == 23 and self._accept("pP"):
            self._accept("+-")
            self._accept_run("0123456789_")
        self._accept("i")
        if self.pos < len(self.input) and _alnum(self.input[self.pos]):
            self.pos += 1
            return False
        return True

    def _number(self) -> bool:
        if not self._scan_number():
            self.error(f"bad number syntax: {_go_quote(self.input[self.start:self.pos])}")
            return False
        if self.peek() in ("+", "-"):
            if not self._scan_number() or self.input[self.pos - 1] != "i":
                self.error(f"bad number syntax: {_go_quote(self.input[self.start:self.pos])}")
                return False
            self.emit("complex")
        else:
            self.emit("number")
        return True


_go_quote = go_quote


# --------------------------------------------------------------------------- nodes

@dataclass(eq=False)
class Text:
    pos: int
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(eq=False)
class Identifier:
    pos: int
    ident: str

    def __str__(self) -> str:
        return self.ident


@dataclass(eq=False)
class Variable:
    pos: int
    ident: list[str]

    def __str__(self) -> str:
        return ".".join(self.ident)


@dataclass(eq=False)
class Dot:
    pos: int

    def __str__(self) -> str:
        return "."


@dataclass(eq=False)
class Nil:
    pos: int

    def __str__(self) -> str:
        return "nil"


@dataclass(eq=False)
class Field:
    pos: int
    ident: list[str]

    def __str__(self) -> str:
        return "".join("." + i for i in self.ident)


@dataclass(eq=False)
class Bool:
    pos: int
    true: bool

    def __str__(self) -> str:
        return "true" if self.true else "false"


@dataclass(eq=False)
class Number:
    pos: int
    text: str
    is_int: bool = False
    is_float: bool = False
    int_value: int = 0
    float_value: float = 0.0

    def __str__(self) -> str:
        return self.text


@dataclass(eq=False)
class String:
    pos: int
    quoted: str
    text: str

    def __str__(self) -> str:
        return self.quoted


@dataclass(eq=False)
class Chain:
    pos: int
    node: Node
    fields: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        head = f"({self.node})" if isinstance(self.node, Pipe) else str(self.node)
        return head + "".join("." + f for f in self.fields)


@dataclass(eq=False)
class Command:
    pos: int
    args: list[Node] = field(default_factory=list)

    def __str__(self) -> str:
        return " ".join(f"({a})" if isinstance(a, Pipe) else str(a) for a in self.args)


@dataclass(eq=False)
class Pipe:
    pos: int
    line: int
    is_assign: bool = False
    decl: list[Variable] = field(default_factory=list)
    cmds: list[Command] = field(default_factory=list)

    def __str__(self) -> str:
        head = ""
        if self.decl:
            head = ", ".join(str(v) for v in self.decl) + " := "
        return head + " | ".join(str(c) for c in self.cmds)


@dataclass(eq=False)
class Action:
    pos: int
    line: int
    pipe: Pipe

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


@dataclass(eq=False)
class ListNode:
    pos: int
    nodes: list[Node] = field(default_factory=list)

    def __str__(self) -> str:
        return "".join(str(n) for n in self.nodes)


@dataclass(eq=False)
class Branch:
    """if, with and range (``kind``)."""
    kind: str
    pos: int
    line: int
    pipe: Pipe
    body: ListNode
    else_body: ListNode | None

    def __str__(self) -> str:
        text = "{{" + self.kind + " " + str(self.pipe) + "}}" + str(self.body)
        if self.else_body is not None:
            text += "{{else}}" + str(self.else_body)
        return text + "{{end}}"


@dataclass(eq=False)
class TemplateCall:
    pos: int
    line: int
    name: str
    pipe: Pipe | None

    def __str__(self) -> str:
        if self.pipe is None:
            return "{{template " + go_quote(self.name) + "}}"
        return "{{template " + go_quote(self.name) + " " + str(self.pipe) + "}}"


@dataclass(eq=False)
class Break:
    pos: int
    line: int

    def __str__(self) -> str:
        return "{{break}}"


@dataclass(eq=False)
class Continue:
    pos: int
    line: int

    def __str__(self) -> str:
        return "{{continue}}"


@dataclass(eq=False)
class _End:
    pos: int

    def __str__(self) -> str:
        return "{{end}}"


@dataclass(eq=False)
class _Else:
    pos: int
    line: int

    def __str__(self) -> str:
        return "{{else}}"


Node = (Text | Identifier | Variable | Dot | Nil | Field | Bool | Number | String | Chain
        | Command | Pipe | Action | ListNode | Branch | TemplateCall | Break | Continue
        | _End | _Else)


# --------------------------------------------------------------------------- parser

_UNQUOTE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t",
                    "v": "\v", "\\": "\\", "'": "'", '"': '"'}
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)",
                     re.DOTALL)


def unquote(text: str) -> str:
    """Go's ``strconv.Unquote`` for "…", `…` and '…' literals; ``ValueError`` on bad ones."""
    if len(text) < 2 or text[0] != text[-1]:
        raise ValueError("invalid syntax")
    quote, body = text[0], text[1:-1]
    if quote == "`":
        if "`" in body:
            raise ValueError("invalid syntax")
        return body.replace("\r", "")
    if quote not in "\"'" or "\n" in body:
        raise ValueError("invalid syntax")
    out: list[str] = []
    pos = 0
    while pos < len(body):
        ch = body[pos]
        if ch == quote:
            raise ValueError("invalid syntax")
        if ch != "\\":
            out.append(ch)
            pos += 1
            continue
        match = _ESCAPE.match(body, pos)
        if not match:
            raise ValueError("invalid syntax")
        esc = match.group(1)
        if esc[0] in "xuU":
            code = int(esc[1:], 16)
            if esc[0] != "x" and (code > 0x10FFFF or 0xD800 <= code < 0xE000):
                raise ValueError("invalid syntax")
            out.append(chr(code))
        elif esc[0] in "01234567":
            if len(esc) != 3 or int(esc, 8) > 255:
                raise ValueError("invalid syntax")
            out.append(chr(int(esc, 8)))
        elif esc in _UNQUOTE_ESCAPES and not (esc == "'" and quote == '"') \
                and not (esc == '"' and quote == "'"):
            out.append(_UNQUOTE_ESCAPES[esc])
        else:
            raise ValueError("invalid syntax")
        pos = match.end()
    result = "".join(out)
    if quote == "'" and len(result) != 1:
        raise ValueError("invalid syntax")
    return result


def _parse_go_int(text: str) -> int | None:
    """``strconv.ParseInt(text, 0, 64)``: prefixes 0x/0o/0b/0, underscores between digits."""
    body = text.lstrip("+-")
    neg = text.startswith("-")
    if text[:1] in "+-" and text[1:2] in "+-":
        return None
    base = 10
    lower = body.lower()
    if lower.startswith("0x"):
        base, digits = 16, body[2:]
    elif lower.startswith("0o"):
        base, digits = 8, body[2:]
    elif lower.startswith("0b"):
        base, digits = 2, body[2:]
    elif len(body) > 1 and body.startswith("0"):
        base, digits = 8, body[1:]
    else:
        digits = body
    if "_" in digits:
        if base == 10 and not (lower.startswith("0") and len(body) > 1):
            if digits.startswith("_") or digits.endswith("_") or "__" in digits:
                return None
        digits = digits.replace("_", "")
    if not digits:
        return None
    try:
        value = int(digits, base)
    except ValueError:
        return None
    value = -value if neg else value
    return value if -(2 ** 63) <= value < 2 ** 63 else None


def _number(item: Item) -> Number:
    text = item.val
    node = Number(item.pos, text)
    if item.typ == "char":
        try:
            ch = unquote(text)
        except ValueError:
            raise ParseError(f"malformed character constant: {text}") from None
        node.is_int = node.is_float = True
        node.int_value, node.float_value = ord(ch), float(ord(ch))
        return node
    if item.typ == "complex" or text.endswith("i"):
        raise ParseError(f"complex number {text} is not supported by wardops templates")
    value = _parse_go_int(text)
    if value is not None:
        node.is_int = node.is_float = True
        node.int_value, node.float_value = value, float(value)
        return node
    try:
        number = float(text.replace("_", "")) if not text.lower().startswith(
            ("0x", "-0x", "+0x")) else float.fromhex(text.replace("_", ""))
    except ValueError:
        raise ParseError(f"illegal number syntax: {_go_quote(text)}") from None
    if not any(c in text for c in ".eEpP"):
        raise ParseError(f"integer overflow: {_go_quote(text)}")
    node.is_float, node.float_value = True, number
    if number == number and abs(number) != float("inf") and float(int(number)) == number \
            and -(2 ** 63) <= int(number) < 2 ** 63:
        node.is_int, node.int_value = True, int(number)
    return node


class Tree:
    """One named template's parse tree (``define`` makes more, all in one set)."""

    def __init__(self, name: str, parse_name: str, text: str, root: ListNode) -> None:
        self.name = name              # what "executing %q" names
        self.parse_name = parse_name  # the top-level template's name, for locations
        self.text = text
        self.root = root

    def location(self, pos: int) -> str:
        """Go's ``ErrorContext`` location: ``name:line:byte-column``."""
        before = self.text[:pos]
        newline = before.rfind("\n")
        column = len(before[newline + 1:].encode()) if newline >= 0 else len(before.encode())
        return f"{self.parse_name}:{1 + before.count(chr(10))}:{column}"


class _Parser:
    def __init__(self, name: str, text: str, funcs: Container[str],
                 trees: dict[str, Tree], variables: Sequence[str] = ()) -> None:
        self.name = name
        self.text = text
        self.funcs = funcs
        self.trees = trees
        self.items = _Lexer(text).run()
        self.index = 0
        self.vars = ["$", *variables]
        self.range_depth = 0
        self.action_line = 0
        self.last: Item = self.items[0]

    # token access ---------------------------------------------------------------
    def next(self) -> Item:
        item = self.items[self.index]
        self.index += 1
        self.last = item
        return item

    def backup(self, n: int = 1) -> None:
        self.index -= n

    def peek(self) -> Item:
        return self.items[self.index]

    def next_non_space(self) -> Item:
        while True:
            item = self.next()
            if item.typ != "space":
                return item

    def peek_non_space(self) -> Item:
        item = self.next_non_space()
        self.backup()
        return item

    def errorf(self, message: str) -> ParseError:
        return ParseError(f"template: {self.name}:{self.last.line}: {message}")

    def unexpected(self, item: Item, context: str) -> ParseError:
        if item.typ == "error":
            extra = ""
            if self.action_line and self.action_line != item.line:
                extra = f" in action started at {self.name}:{self.action_line}"
                if item.val.endswith(" action"):
                    extra = extra[len(" in action"):]
            return self.errorf(item.val + extra)
        return self.errorf(f"unexpected {_item_str(item)} in {context}")

    def expect(self, typ: str, context: str) -> Item:
        item = self.next_non_space()
        if item.typ != typ:
            raise self.unexpected(item, context)
        return item

    # structure ------------------------------------------------------------------
    def parse(self) -> None:
        root = ListNode(self.peek().pos)
        while self.peek().typ != "EOF":
            if self.peek().typ == "{{":
                at = self.index
                self.next()
                if self.next_non_space().typ == "define":
                    self._definition()
                    continue
                self.index = at
            node = self._text_or_action()
            if isinstance(node, (_End, _Else)):
                raise self.errorf(f"unexpected {node}")
            root.nodes.append(node)
        self._add(self.name, root)

    def _add(self, name: str, root: ListNode) -> None:
        tree = self.trees.get(name)
        if tree is None or _is_empty(tree.root):
            self.trees[name] = Tree(name, self.name, self.text, root)
            return
        if not _is_empty(root):
            raise self.errorf(f"template: multiple definition of template {_go_quote(name)}")

    def _definition(self) -> None:
        name_item = self.next_non_space()
        if name_item.typ not in ("string", "raw"):
            raise self.unexpected(name_item, "define clause")
        try:
            name = unquote(name_item.val)
        except ValueError as exc:
            raise self.errorf(str(exc)) from None
        self.expect("}}", "define clause")
        saved_vars, self.vars = self.vars, ["$"]
        body, end = self._item_list()
        if not isinstance(end, _End):
            raise self.errorf(f"unexpected {end} in define clause")
        self._add(name, body)
        self.vars = saved_vars

    def _item_list(self) -> tuple[ListNode, Node]:
        body = ListNode(self.peek_non_space().pos)
        while self.peek_non_space().typ != "EOF":
            node = self._text_or_action()
            if isinstance(node, (_End, _Else)):
                return body, node
            body.nodes.append(node)
        raise self.errorf("unexpected EOF")

    def _text_or_action(self) -> Node:
        item = self.next_non_space()
        if item.typ == "text":
            return Text(item.pos, item.val)
        if item.typ == "{{":
            self.action_line = item.line
            try:
                return self._action()
            finally:
                self.action_line = 0
        raise self.unexpected(item, "input")

    def _action(self) -> Node:
        item = self.next_non_space()
        if item.typ == "block":
            return self._block()
        if item.typ in ("break", "continue"):
            closing = self.next_non_space()
            if closing.typ != "}}":
                raise self.unexpected(closing, "{{" + item.typ + "}}")
            if self.range_depth == 0:
                raise self.errorf(f"{{{{{item.typ}}}}} outside {{{{range}}}}")
            return (Break if item.typ == "break" else Continue)(item.pos, item.line)
        if item.typ == "else":
            peek = self.peek_non_space()
            if peek.typ == "if":
                return _Else(peek.pos, peek.line)
            token = self.expect("}}", "else")
            return _Else(token.pos, token.line)
        if item.typ == "end":
            return _End(self.expect("}}", "end").pos)
        if item.typ in ("if", "range", "with"):
            return self._control(item.typ)
        if item.typ == "template":
            return self._template()
        self.backup()
        token = self.peek()
        return Action(token.pos, token.line, self._pipeline("command", "}}"))

    def _control(self, kind: str) -> Branch:
        mark = len(self.vars)
        pipe = self._pipeline(kind, "}}")
        if kind == "range":
            self.range_depth += 1
        body, nxt = self._item_list()
        if kind == "range":
            self.range_depth -= 1
        else_body: ListNode | None = None
        if isinstance(nxt, _Else):
            if kind == "if" and self.peek().typ == "if":
                self.next()
                else_body = ListNode(nxt.pos, [self._control("if")])
            else:
                else_body, nxt = self._item_list()
                if not isinstance(nxt, _End):
                    raise self.errorf(f"expected end; found {nxt}")
        del self.vars[mark:]
        return Branch(kind, pipe.pos, pipe.line, pipe, body, else_body)

    def _template_name(self, item: Item, context: str) -> str:
        if item.typ not in ("string", "raw"):
            raise self.unexpected(item, context)
        try:
            return unquote(item.val)
        except ValueError as exc:
            raise self.errorf(str(exc)) from None

    def _template(self) -> TemplateCall:
        item = self.next_non_space()
        name = self._template_name(item, "template clause")
        pipe: Pipe | None = None
        if self.next_non_space().typ != "}}":
            self.backup()
            pipe = self._pipeline("template clause", "}}")
        return TemplateCall(item.pos, item.line, name, pipe)

    def _block(self) -> TemplateCall:
        item = self.next_non_space()
        name = self._template_name(item, "block clause")
        pipe = self._pipeline("block clause", "}}")
        saved_vars, saved_depth = self.vars, self.range_depth
        self.vars, self.range_depth = ["$"], 0
        body, end = self._item_list()
        if not isinstance(end, _End):
            raise self.errorf(f"unexpected {end} in block clause")
        self._add(name, body)
        self.vars, self.range_depth = saved_vars, saved_depth
        return TemplateCall(item.pos, item.line, name, pipe)

    # pipelines ------------------------------------------------------------------
    def _pipeline(self, context: str, end: str) -> Pipe:
        token = self.peek_non_space()
        pipe = Pipe(token.pos, token.line)
        while True:  # declarations
            var = self.peek_non_space()
            if var.typ != "var":
                break
            start = self.index
            self.next_non_space()
            after = self.peek()
            nxt = self.peek_non_space()
            if nxt.typ in ("=", ":="):
                pipe.is_assign = nxt.typ == "="
                self.next_non_space()
                pipe.decl.append(Variable(var.pos, [var.val]))
                self.vars.append(var.val)
                break
            if nxt.typ == "char" and nxt.val == ",":
                self.next_non_space()
                pipe.decl.append(Variable(var.pos, [var.val]))
                self.vars.append(var.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().typ in ("var", "}}", ")"):
                        continue
                    raise self.errorf("range can only initialize variables")
                raise self.errorf(f"too many declarations in {context}")
            del after
            self.index = start
            break
        while True:
            item = self.next_non_space()
            if item.typ == end:
                self._check_pipeline(pipe, context)
                return pipe
            if item.typ in ("bool", "char", "complex", "dot", "field", "ident", "number",
                            "nil", "raw", "string", "var", "("):
                self.backup()
                pipe.cmds.append(self._command())
            else:
                raise self.unexpected(item, context)

    def _check_pipeline(self, pipe: Pipe, context: str) -> None:
        if not pipe.cmds:
            raise self.errorf(f"missing value for {context}")
        for i, cmd in enumerate(pipe.cmds[1:]):
            if isinstance(cmd.args[0], (Bool, Dot, Nil, Number, String)):
                raise self.errorf(f"non executable command in pipeline stage {i + 2}")

    def _command(self) -> Command:
        cmd = Command(self.peek_non_space().pos)
        while True:
            self.peek_non_space()
            operand = self._operand()
            if operand is not None:
                cmd.args.append(operand)
            item = self.next()
            if item.typ == "space":
                continue
            if item.typ in ("}}", ")"):
                self.backup()
            elif item.typ != "|":
                raise self.unexpected(item, "operand")
            break
        if not cmd.args:
            raise self.errorf("empty command")
        return cmd

    def _operand(self) -> Node | None:
        node = self._term()
        if node is None:
            return None
        if self.peek().typ == "field":
            chain = Chain(self.peek().pos, node)
            while self.peek().typ == "field":
                chain.fields.append(self.next().val[1:])
            if isinstance(node, Field):
                return Field(chain.pos, node.ident + chain.fields)
            if isinstance(node, Variable):
                return Variable(chain.pos, node.ident + chain.fields)
            if isinstance(node, (Bool, String, Number, Nil, Dot)):
                raise self.errorf(f"unexpected . after term {_go_quote(str(node))}")
            return chain
        return node

    def _term(self) -> Node | None:
        item = self.next_non_space()
        typ = item.typ
        if typ == "ident":
            if item.val not in self.funcs:
                raise self.errorf(f"function {_go_quote(item.val)} not defined")
            return Identifier(item.pos, item.val)
        if typ == "dot":
            return Dot(item.pos)
        if typ == "nil":
            return Nil(item.pos)
        if typ == "var":
            parts = item.val.split(".")
            if parts[0] not in self.vars:
                raise self.errorf(f"undefined variable {_go_quote(parts[0])}")
            return Variable(item.pos, parts)
        if typ == "field":
            return Field(item.pos, item.val[1:].split("."))
        if typ == "bool":
            return Bool(item.pos, item.val == "true")
        if typ in ("char", "complex", "number"):
            try:
                return _number(item)
            except ParseError as exc:
                raise self.errorf(str(exc)) from None
        if typ == "(":
            return self._pipeline("parenthesized pipeline", ")")
        if typ in ("string", "raw"):
            try:
                return String(item.pos, item.val, unquote(item.val))
            except ValueError as exc:
                raise self.errorf(str(exc)) from None
        self.backup()
        return None


def _is_empty(node: Node) -> bool:
    if isinstance(node, ListNode):
        return all(_is_empty(n) for n in node.nodes)
    if isinstance(node, Text):
        return not node.text.strip(" \t\r\n\v\f")
    return False


def _item_str(item: Item) -> str:
    if item.typ == "EOF":
        return "EOF"
    if item.typ in _KEYWORDS.values() or item.typ in ("{{", "}}"):
        if item.typ in ("{{", "}}"):
            return _go_quote(item.val) if len(item.val) <= 10 else \
                _go_quote(item.val[:10]) + "..."
        return f"<{item.val}>"
    if len(item.val) > 10:
        return _go_quote(item.val)[:11] + '"...'
    return _go_quote(item.val)


def parse(name: str, text: str, funcs: Container[str],
          variables: Sequence[str] = ()) -> dict[str, Tree]:
    """Parse ``text`` as the template ``name``; returns every template it defines (the
    main one under ``name``). ``variables`` (``$labels`` ...) are declared beforehand, as
    if by actions before the text that take no room in it (``execute`` gives their
    values). Raises ``ParseError`` with Go's message."""
    trees: dict[str, Tree] = {}
    _Parser(name, text, funcs, trees, variables).parse()
    return trees

