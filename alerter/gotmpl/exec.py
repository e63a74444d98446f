"""Go's text/template executor (Go 1.19), over the values of ``alerter.gotmpl.values``.

A port of ``text/template/exec.go`` and ``funcs.go``: typed function arguments (a float
where a string is expected is ``wrong type for value; expected string; got float64``),
Go's comparison rules (an int and a float are ``incompatible types for comparison``),
``range`` over lists and maps (sorted keys), ``break``/``continue``, ``template`` calls,
variable scopes, and Go's error messages with the node and position they point at.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from alerter.gotmpl import parse as P
from alerter.gotmpl.values import (
    HTML,
    METHODS,
    AnyMap,
    GoTime,
    Sample,
    Struct,
    Uint8,
    go_quote,
    go_sprint,
    go_sprintf,
    go_sprintln,
    go_type,
    go_v,
    is_number,
)

#: Go's limit on nested ``template`` calls (``maxExecDepth``); the walk does not use the
#: Python stack for them (``_State.walk``)
MAX_DEPTH = 100_000


class ExecError(Exception):
    """A failed execution; the message is Go's (``template: name:1:2: executing ...``)."""


class FuncError(Exception):
    """A template function's error (Go's second return value); becomes
    ``error calling NAME: MESSAGE``."""


@dataclass(frozen=True)
class Func:
    """A template function and its Go signature: parameter types are ``any``
    (``interface{}``), ``value`` (``reflect.Value``: anything, nil too), ``string``,
    ``float64``, ``int``, ``bool``, ``template.queryResult`` or ``*template.sample``;
    ``variadic`` is the element type of a trailing ``...`` parameter."""

    fn: Callable[..., Any]
    params: tuple[str, ...] = ()
    variadic: str | None = None
    #: False for a function whose result may change between calls (``query``)
    pure: bool = True


class _Missing:
    pass


_MISSING: Any = _Missing()
_NILABLE = {"any", "value", "template.queryResult", "*template.sample",
            "map[string]string", "*time.Time"}


#: a child to walk: (the state it runs in, its dot, the node)
_Walk = tuple["_State", Any, Any]


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


def _assignable(value: Any, typ: str) -> bool:
    if typ in ("any", "value"):
        return True
    if typ == "string":
        return type(value) is str
    if typ == "float64":
        return type(value) is float
    if typ == "int":
        return type(value) is int
    if typ == "bool":
        return type(value) is bool
    return go_type(value) == typ


def is_true(value: Any) -> tuple[bool, bool]:
    """Go's ``isTrue``: (truth, ok)."""
    if value is None:
        return False, True
    if isinstance(value, bool):
        return value, True
    if is_number(value):
        return value != 0, True
    if isinstance(value, (str, Mapping, list, tuple)):
        return len(value) > 0, True
    return True, True  # a non-nil pointer or a struct


def _truth(value: Any) -> bool:
    return is_true(value)[0]


class _Run:
    """What the states of one execution share: the chain of states by depth, the
    ``template`` calls in progress by (name, dot) with the impure-call count at their
    start, and that count."""

    __slots__ = ("chain", "active", "impure")

    def __init__(self) -> None:
        self.chain: list[_State] = []
        self.active: dict[tuple[str, Any], tuple[int, int]] = {}
        self.impure = 0


def _dot_key(dot: Any) -> Any:
    """A dot two calls share: a scalar by value, anything else by identity (the active
    state holding it keeps it alive, so its id is not reused meanwhile)."""
    if dot is None or type(dot) in (str, int, float, bool):
        return (type(dot), dot)
    return id(dot)


class _State:
    __slots__ = ("trees", "tree", "funcs", "depth", "escape", "node", "vars", "out", "run",
                 "first_call")

    def __init__(self, trees: Mapping[str, P.Tree], tree: P.Tree,
                 funcs: Mapping[str, Func], depth: int = 0,
                 escape: Callable[[str], str] | None = None,
                 run: _Run | None = None) -> None:
        self.trees = trees
        self.tree = tree
        self.funcs = funcs
        self.depth = depth
        self.escape = escape
        self.node: Any = None
        self.vars: list[list[Any]] = []
        self.out: list[str] = []
        self.run = run if run is not None else _Run()
        #: the first ``template`` call this state made (where Go would stop at the limit)
        self.first_call: P.TemplateCall | None = None

    # errors ---------------------------------------------------------------------
    def errorf(self, message: str) -> ExecError:
        name = self.tree.name
        if self.node is None:
            return ExecError(f"template: {name}: {message}")
        location = self.tree.location(self.node.pos)
        return ExecError(f"template: {location}: executing {go_quote(name)} at "
                         f"<{self.node}>: {message}")

    # variables ------------------------------------------------------------------
    def push(self, name: str, value: Any) -> None:
        self.vars.append([name, value])

    def mark(self) -> int:
        return len(self.vars)

    def pop(self, mark: int) -> None:
        del self.vars[mark:]

    def set_var(self, name: str, value: Any) -> None:
        for var in reversed(self.vars):
            if var[0] == name:
                var[1] = value
                return
        raise self.errorf(f"undefined variable: {name}")

    def set_top_var(self, n: int, value: Any) -> None:
        self.vars[len(self.vars) - n][1] = value

    def var_value(self, name: str) -> Any:
        for var in reversed(self.vars):
            if var[0] == name:
                return var[1]
        raise self.errorf(f"undefined variable: {name}")

    # walking --------------------------------------------------------------------
    # Go allows 100,000 nested ``template`` calls. Walking recursively would need several
    # Python frames per level, so the walk runs on an explicit stack instead: each walk
    # function is a generator that yields (state, dot, node) for a child to walk, and
    # ``walk`` drives them (a child's exception is thrown into its parent, so ``finally``,
    # ``break``/``continue`` and errors unwind as in the recursive form).
    def walk(self, dot: Any, node: Any) -> None:
        """Execute ``node`` with ``dot``, appending to ``self.out``."""
        stack: list[Generator[_Walk, None, None]] = [self.walk_node(dot, node)]
        error: BaseException | None = None
        while stack:
            top = stack[-1]
            try:
                if error is not None:
                    thrown, error = error, None
                    state, child_dot, child = top.throw(thrown)
                else:
                    state, child_dot, child = next(top)
            except StopIteration:
                stack.pop()
                continue
            except BaseException as exc:  # to the parent walk, as a recursive call would
                stack.pop()
                if not stack:
                    raise
                # without the child's traceback: 100,000 levels of it would keep every
                # finished generator alive until the error is handled
                error = exc.with_traceback(None)
                continue
            stack.append(state.walk_node(child_dot, child))

    def walk_node(self, dot: Any, node: Any) -> Generator[_Walk, None, None]:
        self.node = node
        if isinstance(node, P.Action):
            value = self.eval_pipeline(dot, node.pipe)
            if not node.pipe.decl:
                self.print_value(node, value)
        elif isinstance(node, P.Text):
            self.out.append(node.text)
        elif isinstance(node, P.ListNode):
            for child in node.nodes:
                if isinstance(child, P.Text):  # the common leaves, without a generator
                    self.out.append(child.text)
                else:
                    yield self, dot, child
        elif isinstance(node, P.Branch):
            if node.kind == "range":
                yield from self.walk_range(dot, node)
            else:
                yield from self.walk_if_or_with(node, dot)
        elif isinstance(node, P.TemplateCall):
            yield from self.walk_template(dot, node)
        elif isinstance(node, P.Break):
            raise _Break
        elif isinstance(node, P.Continue):
            raise _Continue
        else:
            raise self.errorf(f"unknown node: {node}")

    def walk_if_or_with(self, node: P.Branch, dot: Any) -> Generator[_Walk, None, None]:
        mark = self.mark()
        try:
            value = self.eval_pipeline(dot, node.pipe)
            truth, ok = is_true(value)
            if not ok:
                raise self.errorf(f"if/with can't use {go_v(value)}")
            if truth:
                yield self, value if node.kind == "with" else dot, node.body
            elif node.else_body is not None:
                yield self, dot, node.else_body
        finally:
            self.pop(mark)

    def walk_range(self, dot: Any, node: P.Branch) -> Generator[_Walk, None, None]:
        self.node = node
        outer = self.mark()
        try:
            value = self.eval_pipeline(dot, node.pipe)
            mark = self.mark()
            if isinstance(value, (list, tuple)) and value:
                items: list[tuple[Any, Any]] = list(enumerate(value))
            elif isinstance(value, Mapping) and value:
                items = [(key, value[key]) for key in sorted(value)]
            else:
                if value is not None and not isinstance(value, (list, tuple, Mapping)):
                    raise self.errorf(f"range can't iterate over {go_v(value)}")
                if node.else_body is not None:
                    yield self, dot, node.else_body
                return
            for index, elem in items:
                if node.pipe.decl:
                    self.set_top_var(1, elem)
                if len(node.pipe.decl) > 1:
                    self.set_top_var(2, index)
                try:
                    yield self, elem, node.body
                except _Continue:
                    pass
                finally:
                    self.pop(mark)
        except _Break:
            pass
        finally:
            self.pop(outer)

    def walk_template(self, dot: Any, node: P.TemplateCall) -> Generator[_Walk, None, None]:
        self.node = node
        if self.first_call is None:
            self.first_call = node
        tree = self.trees.get(node.name)
        if tree is None:
            raise self.errorf(f"template {go_quote(node.name)} not defined")
        if self.depth >= MAX_DEPTH:
            raise self.errorf(f"exceeded maximum template depth ({MAX_DEPTH})")
        dot = self.eval_pipeline(dot, node.pipe)
        run = self.run
        key = (node.name, _dot_key(dot))
        started = run.active.get(key)
        if started is not None and started[1] == run.impure:
            raise self.endless(started[0])
        inner = _State(self.trees, tree, self.funcs, self.depth + 1, self.escape, run)
        inner.out = self.out
        inner.vars = [["$", dot]]
        run.active[key] = (self.depth, run.impure)
        del run.chain[inner.depth:]
        run.chain.append(inner)
        try:
            yield inner, dot, tree.root
        finally:
            if started is None:
                del run.active[key]
            else:
                run.active[key] = started

    def endless(self, since: int) -> ExecError:
        """Go's error at its depth limit, for a call that repeats the one made at depth
        ``since`` (same template, same dot, no impure call between): from there the calls
        repeat with a period of ``self.depth - since`` levels until the state at depth
        ``MAX_DEPTH`` makes its first ``template`` call, which fails. Going there would
        take 100,000 levels; the state that one repeats is on the chain already."""
        period = self.depth - since
        twin = since + 1 + (MAX_DEPTH - since - 1) % period
        state = self if twin == self.depth else self.run.chain[twin]
        assert state.first_call is not None and state.depth == twin
        state.node = state.first_call
        return state.errorf(f"exceeded maximum template depth ({MAX_DEPTH})")

    def print_value(self, node: Any, value: Any) -> None:
        self.node = node
        if value is None:
            text = "<no value>"
        elif isinstance(value, Sample):  # a pointer prints as what it points at
            text = "{" + go_v(value.Labels) + " " + go_v(value.Value) + "}"
        else:
            text = go_v(value)
        if self.escape is not None and not isinstance(value, HTML):
            text = self.escape(text)
        self.out.append(text)

    # evaluation -----------------------------------------------------------------
    def eval_pipeline(self, dot: Any, pipe: P.Pipe | None) -> Any:
        if pipe is None:
            return None
        self.node = pipe
        value: Any = _MISSING
        for cmd in pipe.cmds:
            value = self.eval_command(dot, cmd, value)
        for var in pipe.decl:
            if pipe.is_assign:
                self.set_var(var.ident[0], value)
            else:
                self.push(var.ident[0], value)
        return value

    def not_a_function(self, args: Sequence[Any], final: Any) -> None:
        if len(args) > 1 or final is not _MISSING:
            raise self.errorf(f"can't give argument to non-function {args[0]}")

    def eval_command(self, dot: Any, cmd: P.Command, final: Any) -> Any:
        first = cmd.args[0]
        if isinstance(first, P.Field):
            return self.eval_field_node(dot, first, cmd.args, final)
        if isinstance(first, P.Chain):
            return self.eval_chain_node(dot, first, cmd.args, final)
        if isinstance(first, P.Identifier):
            return self.eval_function(dot, first, cmd, cmd.args, final)
        if isinstance(first, P.Pipe):
            self.not_a_function(cmd.args, final)
            return self.eval_pipeline(dot, first)
        if isinstance(first, P.Variable):
            return self.eval_variable_node(dot, first, cmd.args, final)
        self.node = first
        self.not_a_function(cmd.args, final)
        if isinstance(first, P.Bool):
            return first.true
        if isinstance(first, P.Dot):
            return dot
        if isinstance(first, P.Nil):
            raise self.errorf("nil is not a command")
        if isinstance(first, P.Number):
            return self.ideal_constant(first)
        if isinstance(first, P.String):
            return first.text
        raise self.errorf(f"can't evaluate command {first}")

    def ideal_constant(self, number: P.Number) -> Any:
        self.node = number
        text = number.text
        hex_int = len(text) > 2 and text[0] == "0" and text[1] in "xX" \
            and not any(c in text for c in "pP")
        if number.is_float and not hex_int and not text.startswith("'") \
                and any(c in text for c in ".eEpP"):
            return number.float_value
        if number.is_int:
            return number.int_value
        raise self.errorf(f"{text} overflows int")

    def eval_field_node(self, dot: Any, node: P.Field, args: Sequence[Any],
                        final: Any) -> Any:
        self.node = node
        return self.eval_field_chain(dot, dot, node, node.ident, args, final)

    def eval_chain_node(self, dot: Any, chain: P.Chain, args: Sequence[Any],
                        final: Any) -> Any:
        self.node = chain
        if isinstance(chain.node, P.Nil):
            raise self.errorf(f"indirection through explicit nil in {chain}")
        receiver = self.eval_arg(dot, None, chain.node)
        return self.eval_field_chain(dot, receiver, chain, chain.fields, args, final)

    def eval_variable_node(self, dot: Any, var: P.Variable, args: Sequence[Any] | None,
                           final: Any) -> Any:
        self.node = var
        value = self.var_value(var.ident[0])
        if len(var.ident) == 1:
            self.not_a_function(args or [var], final)
            return value
        return self.eval_field_chain(dot, value, var, var.ident[1:], args, final)

    def eval_field_chain(self, dot: Any, receiver: Any, node: Any, idents: Sequence[str],
                         args: Sequence[Any] | None, final: Any) -> Any:
        for name in idents[:-1]:
            receiver = self.eval_field(dot, name, node, None, _MISSING, receiver)
        return self.eval_field(dot, idents[-1], node, args, final, receiver)

    def eval_field(self, dot: Any, name: str, node: Any, args: Sequence[Any] | None,
                   final: Any, receiver: Any) -> Any:
        if receiver is None:
            return None
        methods = METHODS.get(type(receiver), frozenset())
        if name in methods:
            method = Func(getattr(receiver, name), _METHOD_PARAMS.get(name, ()))
            return self.eval_call(dot, method, node, name, args, final)
        has_args = (args is not None and len(args) > 1) or final is not _MISSING
        if isinstance(receiver, (Struct, Sample)):
            fields = receiver.fields if isinstance(receiver, Struct) else \
                {"Labels": receiver.Labels, "Value": receiver.Value}
            if name in fields:
                if has_args:
                    raise self.errorf(f"{name} has arguments but cannot be invoked as "
                                      "function")
                return fields[name]
        elif isinstance(receiver, Mapping):
            if has_args:
                raise self.errorf(f"{name} is not a method but has arguments")
            if name in receiver:
                return receiver[name]
            return None if isinstance(receiver, AnyMap) else ""  # missingkey=zero
        raise self.errorf(f"can't evaluate field {name} in type {go_type(receiver)}")

    def eval_function(self, dot: Any, node: P.Identifier, cmd: Any,
                      args: Sequence[Any] | None, final: Any) -> Any:
        self.node = node
        func = self.funcs.get(node.ident)
        if func is None:
            raise self.errorf(f"{go_quote(node.ident)} is not a defined function")
        return self.eval_call(dot, func, cmd, node.ident, args, final)

    def eval_call(self, dot: Any, func: Func, node: Any, name: str,
                  args: Sequence[Any] | None, final: Any) -> Any:
        rest = list(args[1:]) if args is not None else []
        num_in = len(rest) + (final is not _MISSING)
        params = func.params
        if func.variadic is not None:
            if num_in < len(params):
                raise self.errorf(f"wrong number of args for {name}: want at least "
                                  f"{len(params)} got {len(rest)}")
        elif num_in != len(params):
            raise self.errorf(f"wrong number of args for {name}: want {len(params)} "
                              f"got {num_in}")
        if name in ("and", "or") and func.fn is _and_or:
            value: Any = None
            for arg in rest:
                value = self.eval_arg(dot, "value", arg)
                if _truth(value) == (name == "or"):
                    return value
            if final is not _MISSING:
                value = final
            return value
        argv: list[Any] = []
        for i, arg in enumerate(rest):
            typ = params[i] if i < len(params) else (func.variadic or "any")
            argv.append(self.eval_arg(dot, typ, arg))
        if final is not _MISSING:
            i = len(rest)
            typ = params[i] if i < len(params) else (func.variadic or "any")
            argv.append(self.validate_type(final, typ))
        if not func.pure:
            self.run.impure += 1
        try:
            return func.fn(*argv)
        except FuncError as exc:
            self.node = node
            raise self.errorf(f"error calling {name}: {exc}") from None
        except (ExecError, _Break, _Continue, RecursionError):
            raise
        except Exception as exc:  # a Go panic inside a function: safeCall makes it an error
            self.node = node
            raise self.errorf(f"error calling {name}: {exc}") from None

    def validate_type(self, value: Any, typ: str | None) -> Any:
        if typ is None:
            return value
        if value is None:
            if typ in _NILABLE:
                return None
            raise self.errorf(f"invalid value; expected {typ}")
        if not _assignable(value, typ):
            raise self.errorf(f"wrong type for value; expected {typ}; got {go_type(value)}")
        return value

    def eval_arg(self, dot: Any, typ: str | None, node: Any) -> Any:
        self.node = node
        if isinstance(node, P.Dot):
            return self.validate_type(dot, typ)
        if isinstance(node, P.Nil):
            if typ is None or typ in _NILABLE:
                return None
            raise self.errorf(f"cannot assign nil to {typ}")
        if isinstance(node, P.Field):
            return self.validate_type(self.eval_field_node(dot, node, [node], _MISSING), typ)
        if isinstance(node, P.Variable):
            return self.validate_type(self.eval_variable_node(dot, node, None, _MISSING), typ)
        if isinstance(node, P.Pipe):
            return self.validate_type(self.eval_pipeline(dot, node), typ)
        if isinstance(node, P.Identifier):
            return self.validate_type(self.eval_function(dot, node, node, None, _MISSING),
                                      typ)
        if isinstance(node, P.Chain):
            return self.validate_type(self.eval_chain_node(dot, node, [], _MISSING), typ)
        if typ == "bool":
            if isinstance(node, P.Bool):
                return node.true
            raise self.errorf(f"expected bool; found {node}")
        if typ == "float64":
            if isinstance(node, P.Number) and node.is_float:
                return node.float_value
            raise self.errorf(f"expected float; found {node}")
        if typ == "int":
            if isinstance(node, P.Number) and node.is_int:
                return node.int_value
            raise self.errorf(f"expected integer; found {node}")
        if typ == "string":
            if isinstance(node, P.String):
                return node.text
            raise self.errorf(f"expected string; found {node}")
        if typ in (None, "any", "value"):
            if isinstance(node, P.Bool):
                return node.true
            if isinstance(node, P.Number):
                return self.ideal_constant(node)
            if isinstance(node, P.String):
                return node.text
        raise self.errorf(f"can't handle {node} for arg of type {typ}")


#: parameter types of methods that take arguments (``Remove``: Alertmanager's ``KV``)
_METHOD_PARAMS: dict[str, tuple[str, ...]] = {"Format": ("string",), "Remove": ("any",)}


def execute(trees: Mapping[str, P.Tree], name: str, data: Any,
            funcs: Mapping[str, Func], variables: Sequence[tuple[str, Any]] = (),
            escape: Callable[[str], str] | None = None) -> str:
    """Run template ``name`` of ``trees`` on ``data``; raises ``ExecError``.
    ``variables`` are declared before the template runs (after ``$``); ``escape``
    (html/template's escaping, approximated) applies to every printed value that is not
    ``HTML``."""
    tree = trees[name]
    state = _State(trees, tree, funcs, escape=escape)
    state.run.chain.append(state)
    state.vars = [["$", data]] + [[n, v] for n, v in variables]
    try:
        state.walk(data, tree.root)
    except (_Break, _Continue):  # the parser allows them only inside range
        raise ExecError(f"template: {name}: break or continue outside range") from None
    return "".join(state.out)


# --------------------------------------------------------------------------- builtins

_BAD_TYPE = "invalid type for comparison"
_BAD_CMP = "incompatible types for comparison"


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, Uint8):
        return "uint"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    return "invalid"


def _eq(arg1: Any, *args: Any) -> bool:
    if not args:
        raise FuncError("missing argument for comparison")
    k1 = _kind(arg1)
    for arg in args:
        k2 = _kind(arg)
        if k1 != k2:
            if {k1, k2} == {"int", "uint"}:
                if arg1 == arg:
                    return True
                continue
            if arg1 is not None and arg is not None:
                raise FuncError(_BAD_CMP)
            continue
        if k1 == "invalid":
            if arg1 is None or arg is None:
                if (arg1 is None) == (arg is None):
                    return True
                continue
            if isinstance(arg1, (Mapping, list)) or isinstance(arg, (Mapping, list)):
                raise FuncError(f"non-comparable type {go_v(arg)}: {go_type(arg)}")
            if arg1 is arg:
                return True
            continue
        if arg1 == arg:
            return True
    return False


def _lt(arg1: Any, arg2: Any) -> bool:
    k1, k2 = _kind(arg1), _kind(arg2)
    if k1 == "invalid" or k2 == "invalid":
        raise FuncError(_BAD_TYPE)
    if k1 != k2:
        if {k1, k2} == {"int", "uint"}:
            return bool(arg1 < arg2)
        raise FuncError(_BAD_CMP)
    if k1 == "bool":
        raise FuncError(_BAD_TYPE)
    return bool(arg1 < arg2)


def _le(arg1: Any, arg2: Any) -> bool:
    return _lt(arg1, arg2) or _eq(arg1, arg2)


def _and_or(*args: Any) -> Any:  # evaluated lazily in eval_call
    return args[-1] if args else None


def _index(item: Any, *indexes: Any) -> Any:
    if item is None:
        raise FuncError("index of untyped nil")
    for index in indexes:
        if isinstance(item, (str, list, tuple)):
            if index is None:
                raise FuncError("cannot index slice/array with nil")
            if not is_number(index) or isinstance(index, float):
                raise FuncError(f"cannot index slice/array with type {go_type(index)}")
            data = item.encode() if isinstance(item, str) else item
            if index < 0 or index > len(data):
                raise FuncError(f"index out of range: {index}")
            if index == len(data):
                kind = "string" if isinstance(item, str) else "slice"
                raise FuncError(f"reflect: {kind} index out of range")
            item = Uint8(data[index]) if isinstance(item, str) else data[index]
        elif isinstance(item, Mapping):
            if index is None:
                raise FuncError("value is nil; should be of type string")
            if type(index) is not str and not isinstance(index, str):
                raise FuncError(f"value has type {go_type(index)}; should be string")
            item = item.get(index, None if isinstance(item, AnyMap) else "")
        else:
            raise FuncError(f"can't index item of type {go_type(item)}")
    return item


def _slice(item: Any, *indexes: Any) -> Any:
    if item is None:
        raise FuncError("slice of untyped nil")
    if len(indexes) > 3:
        raise FuncError(f"too many slice indexes: {len(indexes)}")
    if not isinstance(item, (str, list, tuple)):
        raise FuncError(f"can't slice item of type {go_type(item)}")
    if isinstance(item, str) and len(indexes) == 3:
        raise FuncError("cannot 3-index slice a string")
    data = item.encode() if isinstance(item, str) else item
    bounds = [0, len(data)]
    for i, index in enumerate(indexes[:2]):
        if not is_number(index) or isinstance(index, float):
            raise FuncError(f"cannot index slice/array with type {go_type(index)}")
        if index < 0 or index > len(data):
            raise FuncError(f"index out of range: {index}")
        bounds[i] = int(index)
    if bounds[0] > bounds[1]:
        raise FuncError(f"invalid slice index: {bounds[0]} > {bounds[1]}")
    part = data[bounds[0]:bounds[1]]
    if isinstance(item, str):
        return bytes(part).decode("utf-8", "replace") if isinstance(part, bytes) else part
    return type(item)(part) if isinstance(item, list) else part


def _len(item: Any) -> int:
    if isinstance(item, str):
        return len(item.encode())
    if isinstance(item, (Mapping, list, tuple)):
        return len(item)
    if item is None:
        raise FuncError("reflect: call of reflect.Value.Type on zero Value")
    raise FuncError(f"len of type {go_type(item)}")


def _eval_args(args: Sequence[Any]) -> str:
    if len(args) == 1 and type(args[0]) is str:
        return str(args[0])
    return go_sprint(*args)


_HTML = {"\0": "\ufffd", '"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;"}


def _html(*args: Any) -> str:
    return "".join(_HTML.get(c, c) for c in _eval_args(args))


def _js(*args: Any) -> str:
    out: list[str] = []
    for c in _eval_args(args):
        if c in "\\'\"":
            out.append("\\" + c)
        elif c in "<>&=":
            out.append(f"\\u{ord(c):04X}")
        elif ord(c) < 0x20 or (ord(c) >= 0x80 and not c.isprintable()):
            out.append(f"\\u{ord(c):04X}")
        else:
            out.append(c)
    return "".join(out)


def _call(fn: Any, *args: Any) -> Any:
    raise FuncError(f"non-function of type {go_type(fn)}")


BUILTINS: dict[str, Func] = {
    "and": Func(_and_or, ("value",), "value"),
    "or": Func(_and_or, ("value",), "value"),
    "not": Func(lambda v: not _truth(v), ("value",)),
    "len": Func(_len, ("value",)),
    "index": Func(_index, ("value",), "value"),
    "slice": Func(_slice, ("value",), "value"),
    "print": Func(go_sprint, (), "any"),
    "printf": Func(go_sprintf, ("string",), "any"),
    "println": Func(go_sprintln, (), "any"),
    "html": Func(_html, (), "any"),
    "js": Func(_js, (), "any"),
    "urlquery": Func(lambda *a: urllib.parse.quote_plus(_eval_args(a), safe="~"),
                     (), "any"),
    "call": Func(_call, ("value",), "value"),
    "eq": Func(_eq, ("value",), "value"),
    "ne": Func(lambda a, b: not _eq(a, b), ("value", "value")),
    "lt": Func(_lt, ("value", "value")),
    "le": Func(_le, ("value", "value")),
    "gt": Func(lambda a, b: not _le(a, b), ("value", "value")),
    "ge": Func(lambda a, b: not _lt(a, b), ("value", "value")),
}

__all__ = ["BUILTINS", "ExecError", "Func", "FuncError", "GoTime", "execute", "is_true"]
