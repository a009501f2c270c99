"""Errors GraphQL validation raises about the client's own document get a code and the input field.

graphql-core refuses a literal that does not coerce (`from: "2026-02-30"`), an unknown field or
argument, with a message only. Clients switch on codes, so every such error carries
`INVALID_INPUT` and, where the error points into an argument, the dotted input path
(`filter.range.from`), like the errors services return.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from graphql import ArgumentNode, DocumentNode, GraphQLError, Node, ObjectFieldNode, StringValueNode, Visitor, visit
from strawberry.extensions import SchemaExtension

from shared.errors import ErrorCode


class _PathFinder(Visitor):
    """Finds the argument/input-field paths of the value nodes `is_target` accepts."""

    def __init__(self, is_target: Callable[[Node], bool]) -> None:
        super().__init__()
        self.is_target, self.stack, self.paths = is_target, list[str](), list[str]()

    def enter(self, node: Node, *_: Any) -> Any:
        if isinstance(node, ArgumentNode | ObjectFieldNode):
            self.stack.append(node.name.value)
        elif self.stack and self.is_target(node):
            self.paths.append(".".join(self.stack))
        return None

    def leave(self, node: Node, *_: Any) -> Any:
        if isinstance(node, ArgumentNode | ObjectFieldNode):
            self.stack.pop()
        return None


def input_path(document: DocumentNode | None, error: GraphQLError) -> str | None:
    """The input path the error is about: from its AST node, else (scalar parse errors such as an
    impossible date carry no node) from the one literal its message quotes."""
    if document is None:
        return None
    if error.nodes:
        target = error.nodes[-1]
        finder = _PathFinder(lambda node: node is target)
    else:
        finder = _PathFinder(lambda node: isinstance(node, StringValueNode) and f'"{node.value}"' in error.message)
    visit(document, finder)
    return finder.paths[0] if len(finder.paths) == 1 else None


class InputErrorCodes(SchemaExtension):
    def on_validate(self) -> Iterator[None]:
        yield
        context = self.execution_context
        for error in context.pre_execution_errors or []:
            if error.extensions and "code" in error.extensions:
                continue
            error.extensions = {
                **(error.extensions or {}),
                "code": ErrorCode.INVALID_INPUT.value,
                "field": input_path(context.graphql_document, error),
            }
