"""Where things are in a flow file: the YAML line of a path into the data, and a path said in the file's words."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

import yaml


class Positions:
    """Lines of a composed YAML document, looked up by the path into the loaded data."""

    def __init__(self, root: yaml.Node, text: str):
        self.root = root
        self.text = text
        self._constructor = yaml.constructor.SafeConstructor()

    def _key(self, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            try:
                return self._constructor.construct_object(node)
            except yaml.YAMLError:
                return node.value
        return None

    def _matches(self, key_node: yaml.Node, wanted: Any) -> bool:
        from pipecat.flows.config import case_key

        if not isinstance(key_node, yaml.ScalarNode):
            return False
        key = self._key(key_node)
        return key == wanted or key_node.value == str(wanted) or case_key(key) == str(wanted)

    def _entry(self, mapping: yaml.MappingNode, wanted: Any, seen: set[int]) -> tuple[yaml.Node, yaml.Node] | None:
        if id(mapping) in seen:
            return None
        seen.add(id(mapping))
        for key_node, value_node in reversed(mapping.value):  # YAML keeps the last duplicate
            if key_node.tag != "tag:yaml.org,2002:merge" and self._matches(key_node, wanted):
                return key_node, value_node
        for key_node, value_node in mapping.value:  # `<<: *base` merges
            if key_node.tag == "tag:yaml.org,2002:merge":
                merged = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                for source in merged:
                    if isinstance(source, yaml.MappingNode) and (found := self._entry(source, wanted, seen)):
                        return found
        return None

    def find(self, path: Iterable[Any]) -> tuple[yaml.Node | None, yaml.Node | None]:
        """``(key node, value node)`` at ``path``; the deepest node reached when it runs out."""
        key: yaml.Node | None = None
        node: yaml.Node = self.root
        for step in path:
            if isinstance(node, yaml.MappingNode) and (found := self._entry(node, step, set())):
                key, node = found
            elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
                key, node = None, node.value[step]
            else:
                break
        return key, node

    def node(self, path: Iterable[Any]) -> yaml.Node | None:
        return self.find(path)[1]

    def line(self, path: Iterable[Any], *, at_key: bool = False) -> int:
        key, node = self.find(path)
        target = key if (at_key and key is not None) else node
        return (target or self.root).start_mark.line + 1

    def line_of_text(self, path: Iterable[Any], needle: re.Pattern[str] | str) -> int:
        """The line inside a (possibly multi-line) scalar where ``needle`` is written."""
        node = self.node(path)
        if node is None:
            return 1
        source = self.text[node.start_mark.index : node.end_mark.index]
        match = re.search(needle, source) if isinstance(needle, re.Pattern) else None
        offset = match.start() if match else source.find(needle) if isinstance(needle, str) else -1
        if offset < 0:
            return node.start_mark.line + 1
        return node.start_mark.line + 1 + source.count("\n", 0, offset)


def walk(node: yaml.Node, seen: set[int] | None = None) -> Iterator[yaml.Node]:
    seen = set() if seen is None else seen
    if id(node) in seen:
        return
    seen.add(id(node))
    yield node
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield from walk(key, seen)
            yield from walk(value, seen)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from walk(item, seen)

def describe_place(data: Any, path: list[Any]) -> str:
    """A path into the flow in the words of the file: ``node 'ask_time' function 'collect_booking' ...``."""
    words: list[str] = []
    rest: list[Any] = list(path)
    current = data
    if rest[:1] == ["nodes"] and len(rest) >= 2:
        words.append(f"node '{rest[1]}'")
        current = value_at(data, rest[:2])
        rest = rest[2:]
        if len(rest) >= 2 and rest[0] == "functions" and isinstance(rest[1], int):
            name = value_at(current, rest[:2] + ["name"])
            words.append(f"function '{name}'" if isinstance(name, str) else f"functions[{rest[1]}]")
            rest = rest[2:]
    elif rest[:1] == ["global_functions"] and len(rest) >= 2 and isinstance(rest[1], int):
        name = value_at(data, rest[:2] + ["name"])
        words.append(f"global function '{name}'" if isinstance(name, str) else f"global_functions[{rest[1]}]")
        rest = rest[2:]
    if rest:
        tail = "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in rest).lstrip(".")
        words.append(tail)
    return " ".join(words) or "flow"


def value_at(data: Any, path: Iterable[Any]) -> Any:
    for step in path:
        if isinstance(data, dict) and step in data:
            data = data[step]
        elif isinstance(data, list) and isinstance(step, int) and 0 <= step < len(data):
            data = data[step]
        else:
            return None
    return data


def short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


JSON_TYPES = {
    "string": "a string",
    "array": "a list",
    "object": "a mapping",
    "boolean": "true or false",
    "integer": "a whole number",
    "number": "a number",
    "null": "empty",
}


def kind_of(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {short(value)}"
    if isinstance(value, list):
        return f"a list ({short(value)})"
    if isinstance(value, dict):
        return f"a mapping ({short(value)})"
    return type(value).__name__
