"""Check a flow file before it takes a call: ``python -m bot flows check FILE``.

A flow (``flows/*.yaml``) is a Pipecat ``FlowConfig`` whose tools are the
direct functions of a handlers module (``bot.booking.tools``). Pipecat validates a
flow when the line loads it, one problem at a time and without line numbers;
this module finds every problem at once and points each one at its line:

- YAML syntax, and duplicate keys (YAML silently keeps the last one);
- the JSON schema Pipecat ships (``pipecat/flows/flow_config.schema.json``);
- Pipecat's own model validation (``FlowConfig``);
- every tool and action handler exists in the handlers module and is a valid
  direct function (the same lookup ``pipecat.flows.Flow`` does);
- every transition names a node, every node is reachable from
  ``initial_node``, and every node has a way out (a function that transitions,
  or an ``end_conversation`` action);
- every node's task messages have the ``Say: "..."`` line the offline
  dialogue engine speaks, and its ``Again: "..."`` lines differ from each other
  and from it (a warning: the engine would ask again in the same words);
- the business file beside it (``flows/<flow>.business.yaml``), facts included
  (:mod:`bot.flowfile.business_check`);
- every ``{{ placeholder }}`` is a state key the call starts with
  (:func:`bot.call.pipeline.initial_state`) or one the handlers module assigns
  (a warning: that scan reads the source, so it cannot be exact).

Lines point at where the text is written: content shared with a YAML anchor
(``&collect`` / ``*collect``) is reported once, at the anchor.
"""

from __future__ import annotations

import ast
import difflib
import importlib
import inspect
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from bot.flowfile.business_check import business_file_of, check_business
from bot.flowfile.positions import JSON_TYPES, Positions, describe_place, kind_of, walk
from bot.flowfile.problems import Problem, Severity
from bot.flowfile.syntax import (
    END_CONVERSATION,
    PLACEHOLDER,
    again_lines,
    entries,
    function_targets,
    is_ending,
    say_line,
)

DEFAULT_HANDLERS = "bot.booking.tools"

# The keys bot.call.pipeline.initial_state() seeds, used only if it cannot be called.
FALLBACK_STARTING_KEYS = frozenset({"business_name", "today", "max_party_size", "booking_horizon_days"})

class _Checker:
    def __init__(self, path: Path, handlers: str, starting_keys: Iterable[str] | None):
        self.path = path
        self.file = str(path)
        self.handlers_name = handlers
        self.starting_keys = starting_keys
        self.problems: list[Problem] = []
        self.data: dict[str, Any] = {}
        self.pos: Positions

    def add(self, line: int | None, message: str, severity: Severity = "error") -> None:
        problem = Problem(self.file, line, message, severity)
        if problem not in self.problems:
            self.problems.append(problem)

    def run(self) -> list[Problem]:
        if not self._load():
            return self.problems
        schema_ok = self._check_schema()
        self._check_graph_references()
        if schema_ok:  # Pipecat's model would repeat the schema's findings in its own words
            self._check_pydantic()
        self._check_handlers()
        if schema_ok:  # on a malformed graph these would mostly echo the schema's findings
            self._check_reachability()
        self._check_say_lines()
        self._check_again_lines()
        self._check_task_roles()
        self._check_placeholders()
        return self.problems

    # YAML

    def _load(self) -> bool:
        if self.path.name.endswith(".business.yaml"):
            self.add(None, "this is a business data file, not a flow (check the flow beside it)")
            return False
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError as e:
            self.add(None, f"cannot read the file: {e.strerror or e}")
            return False
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            detail = str(e.problem or e.context)
            if e.context and e.context_mark and e.problem_mark:
                detail += f" ({e.context} at line {e.context_mark.line + 1}: check the indentation)"
            self.add(mark.line + 1 if mark else None, f"YAML syntax error: {detail}")
            return False
        except yaml.YAMLError as e:
            self.add(None, f"YAML error: {e}")
            return False
        if root is None:
            self.add(None, "the file is empty")
            return False
        self.pos = Positions(root, text)
        self._check_duplicate_keys(root)
        try:
            from pipecat.utils.yaml import include_loader

            data = yaml.load(text, include_loader(self.path.parent))
        except (yaml.YAMLError, OSError) as e:
            mark = getattr(e, "problem_mark", None)
            self.add(mark.line + 1 if mark else None, f"cannot load the YAML: {getattr(e, 'problem', None) or e}")
            return False
        if not isinstance(data, dict):
            self.add(1, f"a flow is a mapping with initial_node and nodes, not {kind_of(data)}")
            return False
        self.data = data
        return True

    def _check_duplicate_keys(self, root: yaml.Node) -> None:
        for node in walk(root):
            if not isinstance(node, yaml.MappingNode):
                continue
            first_line: dict[str, int] = {}
            for key, _ in node.value:
                if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                    continue
                line = key.start_mark.line + 1
                if key.value in first_line:
                    self.add(
                        line,
                        f"duplicate key '{key.value}' (first at line {first_line[key.value]}): "
                        "YAML keeps only this one and silently drops the other",
                    )
                else:
                    first_line[key.value] = line

    # Pipecat's JSON schema

    def _check_schema(self) -> bool:
        import jsonschema
        import pipecat.flows

        schema_file = Path(pipecat.flows.__file__).parent / "flow_config.schema.json"
        schema = json.loads(schema_file.read_text(encoding="utf-8"))
        validator = jsonschema.Draft202012Validator(schema)
        found = False
        for error in sorted(validator.iter_errors(_json_keys(self.data)), key=lambda e: list(map(str, e.absolute_path))):
            for line, message in self._schema_messages(error):
                self.add(line, message)
                found = True
        return not found

    def _schema_messages(self, error: Any) -> list[tuple[int, str]]:
        path = list(error.absolute_path)
        where = describe_place(self.data, path)
        kind = error.validator
        schema_path = list(error.relative_schema_path)
        instance = error.instance
        if kind == "additionalProperties":
            allowed = list(error.schema.get("properties", {}))
            return [
                (
                    self.pos.line(path + [extra], at_key=True),
                    f"{where}: unknown key '{extra}' (allowed: {', '.join(allowed)})",
                )
                for extra in instance
                if extra not in allowed
            ]
        if kind == "required":
            missing = [k for k in error.validator_value if k not in instance]
            if "then" in schema_path:
                return [(self.pos.line(path, at_key=True), f"{where}: a transition_only function needs '{k}'") for k in missing]
            return [(self.pos.line(path, at_key=True), f"{where}: missing required key '{k}'") for k in missing]
        if kind == "not" and "else" in schema_path:
            return [
                (
                    self.pos.line(path + ["description"], at_key=True),
                    f"{where}: only a transition_only function takes a description; "
                    "a direct function describes itself in its docstring",
                )
            ]
        if kind == "type" and "then" in schema_path:
            return [(self.pos.line(path), f"{where}: a transition_only function must transition_to a node name")]
        if kind == "type":
            wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
            expected = " or ".join(JSON_TYPES.get(t, t) for t in wanted)
            return [(self.pos.line(path), f"{where}: should be {expected}, not {kind_of(instance)}")]
        if kind in ("anyOf", "oneOf"):
            # A mapping where a branch may go: report what is wrong inside the branch.
            options = error.validator_value
            refs = [i for i, o in enumerate(options) if "$ref" in o]
            if isinstance(instance, dict) and refs:
                inner = [e for e in error.context if e.relative_schema_path and e.relative_schema_path[0] in refs]
                messages = [m for e in inner for m in self._schema_messages(e)]
                if messages:
                    return messages
            names = []
            for option in options:
                if "$ref" in option:
                    names.append("a branch (field, cases, default)")
                elif "enum" in option:
                    names.append("one of " + ", ".join(map(str, option["enum"])))
                else:
                    names.append(JSON_TYPES.get(option.get("type"), str(option.get("type"))))
            expected = " or ".join(n for n in names if n != "empty")
            return [(self.pos.line(path), f"{where}: should be {expected}, not {kind_of(instance)}")]
        if kind == "enum":
            return [(self.pos.line(path), f"{where}: should be one of {', '.join(map(str, error.validator_value))}")]
        if kind in ("minProperties", "minItems"):
            return [(self.pos.line(path, at_key=True), f"{where}: should not be empty")]
        message = error.message if len(error.message) <= 200 else error.message[:199] + "…"
        return [(self.pos.line(path), f"{where}: {message}")]

    # Structure the schema cannot see

    def _nodes(self) -> dict[str, dict[str, Any]]:
        nodes = self.data.get("nodes")
        return {k: v for k, v in nodes.items() if isinstance(v, dict)} if isinstance(nodes, dict) else {}

    def _functions(self) -> Iterator[tuple[list[Any], str | None, dict[str, Any]]]:
        """``(path, node name or None for globals, function)`` for each function entry, once per YAML entry."""
        seen: set[int] = set()
        for name, node in self._nodes().items():
            for i, function in entries(node.get("functions")):
                path = ["nodes", name, "functions", i]
                if self._first_time(path, seen):
                    yield path, name, function
        for i, function in entries(self.data.get("global_functions")):
            path = ["global_functions", i]
            if self._first_time(path, seen):
                yield path, None, function

    def _first_time(self, path: list[Any], seen: set[int]) -> bool:
        """Whether the YAML entry at ``path`` is met for the first time (aliases repeat it)."""
        node = id(self.pos.node(path))
        if node in seen:
            return False
        seen.add(node)
        return True

    def _check_graph_references(self) -> None:
        nodes = self._nodes()
        initial = self.data.get("initial_node")
        if isinstance(initial, str) and initial not in nodes:
            self.add(self.pos.line(["initial_node"]), f"initial_node '{initial}' is not a node{self._suggest(initial, nodes)}")
        global_names = [f.get("name") for _, f in entries(self.data.get("global_functions"))]
        self._check_unique(["global_functions"], entries(self.data.get("global_functions")), "global_functions")
        for name, node in nodes.items():
            functions = entries(node.get("functions"))
            self._check_unique(["nodes", name, "functions"], functions, f"node '{name}'")
            for i, function in functions:
                if function.get("name") in global_names:
                    self.add(
                        self.pos.line(["nodes", name, "functions", i, "name"]),
                        f"node '{name}' function '{function.get('name')}' is also a global function",
                    )
        for path, _, function in self._functions():
            where = describe_place(self.data, path)
            for case, target in function_targets(function):
                if target in nodes:
                    continue
                if case is None:
                    step = ["transition_to"]
                elif case == "default":
                    step = ["transition_to", "default"]
                else:
                    step = ["transition_to", "cases", case]
                label = "" if case is None else f" {case!r}" if case == "default" else f" case '{case}'"
                self.add(
                    self.pos.line(path + step),
                    f"{where}{label} transitions to unknown node '{target}'{self._suggest(target, nodes)}",
                )

    def _check_unique(self, path: list[Any], functions: list[tuple[int, dict[str, Any]]], where: str) -> None:
        seen: set[Any] = set()
        for i, function in functions:
            name = function.get("name")
            if not isinstance(name, str):
                continue  # the schema reports it
            if name in seen:
                self.add(self.pos.line(path + [i, "name"]), f"duplicate function '{name}' in {where}")
            seen.add(name)

    @staticmethod
    def _suggest(name: Any, choices: Iterable[str]) -> str:
        close = difflib.get_close_matches(str(name), list(choices), n=1)
        return f" (did you mean '{close[0]}'?)" if close else ""

    def _check_pydantic(self) -> None:
        """Pipecat's own validation, for whatever the checks above do not cover."""
        from pipecat.flows import FlowConfig
        from pydantic import ValidationError

        try:
            FlowConfig.model_validate(self.data)
        except ValidationError as e:
            already = any(p.severity == "error" for p in self.problems)
            for err in e.errors():
                loc = list(err["loc"])
                message = err["msg"].removeprefix("Value error, ")
                if not loc:
                    if not already:  # the whole-flow checks; reported above with their lines
                        self.add(1, message)
                    continue
                self.add(self.pos.line(loc), f"{describe_place(self.data, loc)}: {message}")

    # Tools

    def _handlers(self) -> ModuleType | None:
        try:
            return importlib.import_module(self.handlers_name)
        except Exception as e:  # noqa: BLE001 - any import failure is the finding
            self.add(None, f"cannot import the handlers module '{self.handlers_name}': {type(e).__name__}: {e}")
            return None

    def _check_handlers(self) -> None:
        module = self._handlers()
        if module is None:
            return
        from pipecat.flows.types import FlowsDirectFunctionWrapper

        public = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")]
        before = len(self.problems)
        for path, _, function in self._functions():
            if function.get("transition_only"):
                continue
            name = function.get("name")
            if not isinstance(name, str):
                continue  # the schema reports it
            where = describe_place(self.data, path)
            line = self.pos.line(path + ["name"])
            tool = getattr(module, name, None) if isinstance(name, str) else None
            if tool is None:
                self.add(line, f"{where}: no such tool in {self.handlers_name}{self._suggest(name, public)}")
            elif not callable(tool):
                self.add(line, f"{where}: {self.handlers_name}.{name} is not callable")
            else:
                try:
                    FlowsDirectFunctionWrapper(tool)
                except Exception as e:  # noqa: BLE001
                    self.add(line, f"{where}: {self.handlers_name}.{name} is not a valid direct function: {e}")
        for name, node in self._nodes().items():
            for key in ("pre_actions", "post_actions"):
                for i, action in entries(node.get(key)):
                    handler = action.get("handler")
                    if handler is not None and not isinstance(handler, str):
                        continue  # the schema reports it
                    path = ["nodes", name, key, i]
                    if handler is None:
                        if action.get("type") not in ("tts_say", "end_conversation", "function"):
                            self.add(
                                self.pos.line(path + ["type"]),
                                f"node '{name}' {key}[{i}]: custom action type '{action.get('type')}' "
                                "must be registered in code (FlowManager.register_action)",
                                "warning",
                            )
                        continue
                    target = getattr(module, handler, None)
                    if not callable(target):
                        self.add(
                            self.pos.line(path + ["handler"]),
                            f"node '{name}' {key}[{i}]: no such action handler '{handler}' in "
                            f"{self.handlers_name}{self._suggest(handler, public)}",
                        )
        if len(self.problems) == before and not any(p.severity == "error" for p in self.problems):
            self._check_with_pipecat(module)

    def _check_with_pipecat(self, module: ModuleType) -> None:
        """Join the flow to its handlers exactly as the line does; anything it finds that we did not."""
        from pipecat.flows import Flow, FlowConfig, FlowReferenceError

        try:
            Flow(FlowConfig.model_validate(self.data), handlers=module)
        except FlowReferenceError as e:
            for problem in e.problems:
                if problem.node and problem.function:
                    functions = entries(self._nodes().get(problem.node, {}).get("functions"))
                    index = next((i for i, f in functions if f.get("name") == problem.function), None)
                    path = ["nodes", problem.node] + (["functions", index, "name"] if index is not None else [])
                elif problem.node:
                    path = ["nodes", problem.node]
                else:
                    names = [f.get("name") for f in self.data["global_functions"]]
                    path = ["global_functions", names.index(problem.function)] if problem.function in names else []
                self.add(self.pos.line(path, at_key=not path or path[-1] != "name"), problem.message)
        except Exception as e:  # noqa: BLE001
            self.add(None, f"pipecat.flows.Flow rejects the flow: {type(e).__name__}: {e}")

    # Graph

    def _check_reachability(self) -> None:
        nodes = self._nodes()
        initial = self.data.get("initial_node")
        global_targets = [t for _, f in entries(self.data.get("global_functions")) for _, t in function_targets(f)]

        def own_targets(name: str) -> set[str]:
            found = {t for _, f in entries(nodes[name].get("functions")) for _, t in function_targets(f)}
            return {t for t in found if t in nodes}

        reachable: set[str] = set()
        if isinstance(initial, str) and initial in nodes:
            todo = [initial] + [t for t in global_targets if t in nodes]
            while todo:
                name = todo.pop()
                if name not in reachable:
                    reachable.add(name)
                    todo.extend(own_targets(name))
            for name in nodes:
                if name not in reachable:
                    self.add(
                        self.pos.line(["nodes", name], at_key=True),
                        f"node '{name}' is unreachable: no transition leads to it from initial node '{initial}'",
                    )

        # A way out: a node's own functions must lead elsewhere, unless the node ends the call.
        dead_ends = set()
        for name, node in nodes.items():
            if is_ending(node) or own_targets(name) - {name}:
                continue
            dead_ends.add(name)
            hint = " (only the global functions lead out)" if global_targets else ""
            self.add(
                self.pos.line(["nodes", name], at_key=True),
                f"node '{name}' is a dead end: none of its functions transitions to another node and it "
                f"does not end the call{hint}; add a function with transition_to, or a post_action "
                f"'type: {END_CONVERSATION}'",
            )

        # Loops with no way to finish: no node that ends the call can be reached from here.
        ending = {n for n, node in nodes.items() if is_ending(node)}
        if not ending:
            self.add(1, f"no node ends the call (a post_action 'type: {END_CONVERSATION}')", "warning")
            return
        finishes = ending | dead_ends  # a dead end is reported once, not again for each node before it
        changed = True
        while changed:
            changed = False
            for name in nodes:
                if name not in finishes and own_targets(name) & finishes:
                    finishes.add(name)
                    changed = True
        for name in nodes:
            if name in reachable and name not in finishes and name not in dead_ends:
                self.add(
                    self.pos.line(["nodes", name], at_key=True),
                    f"node '{name}' never leads to a node that ends the call (only through the global functions)",
                    "warning",
                )

    # Words

    def _check_say_lines(self) -> None:
        for name, node in self._nodes().items():
            if isinstance(node.get("task_messages"), list) and say_line(node) is None:
                self.add(
                    self.pos.line(["nodes", name, "task_messages"], at_key=True),
                    f"node '{name}' has no 'Say: \"...\"' line in its task messages: "
                    "the offline dialogue engine would say nothing there",
                )

    def _check_again_lines(self) -> None:
        for name, node in self._nodes().items():
            again, say = again_lines(node), say_line(node)
            repeated = [line for i, line in enumerate(again) if line == say or line in again[:i]]
            if repeated:
                self.add(
                    self.pos.line(["nodes", name, "task_messages"], at_key=True),
                    f"node '{name}' has an 'Again: \"...\"' line that repeats its Say line or another "
                    f"Again line ({repeated[0]!r}): the offline dialogue engine would ask again in the same words",
                    "warning",
                )

    def _check_task_roles(self) -> None:
        # The role message is the LLM's system instruction; a system task message would be a second system
        # prompt (the first one in the context, at the greeting), which Pipecat warns about on every request.
        for name, node in self._nodes().items():
            for i, message in entries(node.get("task_messages")):
                if isinstance(message, dict) and message.get("role") == "system":
                    self.add(
                        self.pos.line(["nodes", name, "task_messages", i, "role"]),
                        f"node '{name}': task message {i + 1} has role 'system'; use 'developer' "
                        "(the role message is already the model's system prompt)",
                    )

    def _prompt_texts(self) -> Iterator[tuple[list[Any], str, str]]:
        """``(path, node name, text)`` of every text Pipecat fills placeholders in."""
        for name, node in self._nodes().items():
            if isinstance(node.get("role_message"), str):
                yield ["nodes", name, "role_message"], name, node["role_message"]
            for i, message in entries(node.get("task_messages")):
                if isinstance(message.get("content"), str):
                    yield ["nodes", name, "task_messages", i, "content"], name, message["content"]
            for key in ("pre_actions", "post_actions"):
                for i, action in entries(node.get(key)):
                    if action.get("type") == "tts_say" and isinstance(action.get("text"), str):
                        yield ["nodes", name, key, i, "text"], name, action["text"]

    def _check_placeholders(self) -> None:
        module = self._module_quietly()
        if module is None:
            return  # reported by _check_handlers; without the tools the scan would flag every tool's key
        starting = set(self.starting_keys) if self.starting_keys is not None else starting_state_keys()
        assigned = assigned_state_keys(module)
        known = starting | assigned
        seen: set[tuple[int, str]] = set()
        for path, name, text in self._prompt_texts():
            scalar = self.pos.node(path)
            for match in PLACEHOLDER.finditer(text):
                if match.group(1):
                    continue  # \{{ escaped }}
                key = match.group(2).split(".")[0]
                if key in known or (id(scalar), key) in seen:
                    continue
                seen.add((id(scalar), key))
                needle = re.compile(r"\{\{\s*" + re.escape(match.group(2)) + r"\s*\}\}")
                self.add(
                    self.pos.line_of_text(path, needle),
                    f"node '{name}' uses '{{{{ {match.group(2)} }}}}', but neither the call's starting state "
                    f"nor any tool in {self.handlers_name} sets '{key}' (Pipecat fails entering the node "
                    "if it is missing)",
                    "warning",
                )

    def _module_quietly(self) -> ModuleType | None:
        try:
            return importlib.import_module(self.handlers_name)
        except Exception:  # noqa: BLE001 - reported by _check_handlers
            return None


def _json_keys(value: Any) -> Any:
    """The data as JSON would hold it: mapping keys as strings (YAML allows ``true:`` case keys)."""
    if isinstance(value, dict):
        from pipecat.flows.config import case_key

        return {(k if isinstance(k, str) else case_key(k)): _json_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_keys(v) for v in value]
    return value


def starting_state_keys() -> set[str]:
    """The state keys a call starts with: those of :func:`bot.call.pipeline.initial_state`.

    It is called with a throwaway call (an in-memory store, a minimal business);
    if that fails, :data:`FALLBACK_STARTING_KEYS` is used.
    """
    try:
        from bot.booking.business import Business
        from bot.booking.store import BookingStore
        from bot.call.context import CallContext
        from bot.call.pipeline import initial_state

        business = Business.model_validate({"name": "check", "capacity_seats": 1, "max_party_size": 1, "hours": {}})
        call = CallContext(call_sid="flowcheck", caller=None, store=BookingStore(":memory:", business))
        return {k for k in initial_state(call) if not k.startswith("_")}
    except Exception:  # noqa: BLE001 - a documented list is good enough for a warning
        return set(FALLBACK_STARTING_KEYS)


def assigned_state_keys(module: ModuleType) -> set[str]:
    """State keys the module's source assigns: ``state["k"] = ...``, ``state.setdefault("k", ...)``,
    ``state.update({"k": ...})`` / ``state.update(k=...)``, on anything whose name ends in ``state``."""
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError, SyntaxError):
        return set()

    def is_state(node: ast.AST) -> bool:
        name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
        return name.endswith("state")

    keys: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store) and is_state(node.value):
            if isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
                keys.add(node.slice.value)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and is_state(node.func.value):
            if node.func.attr == "setdefault" and node.args and isinstance(node.args[0], ast.Constant):
                keys.add(str(node.args[0].value))
            elif node.func.attr == "update":
                keys.update(k.arg for k in node.keywords if k.arg)
                for arg in node.args:
                    if isinstance(arg, ast.Dict):
                        keys.update(str(k.value) for k in arg.keys if isinstance(k, ast.Constant))
    return keys


def check_flow(
    path: str | Path, handlers: str = DEFAULT_HANDLERS, *, starting_keys: Iterable[str] | None = None
) -> list[Problem]:
    """Every problem with the flow file at ``path``, errors and warnings, in file order.

    Args:
        path: The flow's YAML file.
        handlers: The module its tools and action handlers live in.
        starting_keys: State keys the call starts with; default: those of
            :func:`bot.call.pipeline.initial_state`.
    """
    problems = sorted(_Checker(Path(path), handlers, starting_keys).run(), key=lambda p: (p.line or 0))
    business = business_file_of(Path(path))
    if business.is_file():
        problems += sorted(check_business(business), key=lambda p: (p.line or 0))
    return problems


def summary(path: str | Path, problems: list[Problem]) -> str:
    """One line about a checked flow: ``flows/booking.yaml: OK, 25 nodes, 10 tools``."""
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    if errors:
        counts = f"{errors} error{'s' * (errors != 1)}" + (
            f", {warnings} warning{'s' * (warnings != 1)}" if warnings else ""
        )
        return f"{path}: {counts}"
    from pipecat.utils.yaml import include_loader

    data = yaml.load(Path(path).read_text(encoding="utf-8"), include_loader(Path(path).parent))
    nodes = data.get("nodes") or {}
    functions = [f for n in nodes.values() for f in n.get("functions") or []] + (data.get("global_functions") or [])
    tools = {f["name"] for f in functions}
    transition_only = {f["name"] for f in functions if f.get("transition_only")}
    text = f"{path}: OK, {len(nodes)} node{'s' * (len(nodes) != 1)}, {len(tools)} tool{'s' * (len(tools) != 1)}"
    text += f" ({len(transition_only)} transition-only)" if transition_only else ""
    return text + (f", {warnings} warning{'s' * (warnings != 1)}" if warnings else "")
