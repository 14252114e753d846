"""The smart tag and view builder's form: a tree of AND/OR groups and condition rows, to and
from the definition the API takes.

Every node of the tree has a key, its path from the root: ``r`` is the root group, ``r.1``
its second child, ``r.1.0`` that group's first. The form posts ``node`` once per node in
document order and, per key, ``KEY.match`` for a group or ``KEY.type`` / ``KEY.path`` /
``KEY.op`` / ``KEY.value`` / ``KEY.ref`` for a condition row. A button named ``edit`` with
``add_condition:KEY``, ``add_group:KEY`` or ``remove:KEY`` changes the tree without saving,
so adding or removing a group is one server round trip (an htmx swap of the conditions,
or the whole page without JavaScript) and the page holds no tree logic of its own.

The builder shows trait, milestone (achieved or not) and tag conditions; a definition with
anything else (event counts, "achieved within N days") is reported by
:func:`draft_of` as not editable here, rather than shown wrongly and saved without it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import ImmutableMultiDict

from variance.core.filters import FilterOp
from variance.core.tag_tree import MAX_DEPTH, ConditionGroup, MilestoneCondition, TagCondition, TraitCondition
from variance.workspace.errors import InvalidInput

ROOT = "r"
MATCHES = ("all", "any")


@dataclass
class DraftCondition:
    """One row as the user left it; ``type`` empty: a row to skip."""

    type: str = ""
    path: str = ""
    op: str = ""
    value: str = ""
    ref: str = ""

    is_group = False


@dataclass
class DraftGroup:
    match: str = "all"
    items: list[DraftGroup | DraftCondition] = field(default_factory=list)

    is_group = True


class NotEditable(Exception):
    """The definition holds conditions the builder cannot show."""


def blank(rows: int = 3) -> DraftGroup:
    return DraftGroup("all", [DraftCondition() for _ in range(rows)])


def _text(form: ImmutableMultiDict, key: str, limit: int = 1000) -> str:
    value = form.get(key, "")
    return value[:limit] if isinstance(value, str) else ""


def parse(form: ImmutableMultiDict) -> DraftGroup:
    """The tree the form posted. A key whose parent is not a group posted before it is a
    form this page did not render: refused naming the key."""
    root = DraftGroup(_match(_text(form, f"{ROOT}.match", 10)))
    groups: dict[str, DraftGroup] = {ROOT: root}
    for key in form.getlist("node")[: 4 * 50]:  # the definition's own limit is 50 conditions
        if not isinstance(key, str) or key == ROOT:
            continue
        parent = groups.get(key.rpartition(".")[0])
        if parent is None or not key.startswith(ROOT + "."):
            raise InvalidInput("node", f"{key[:40]!r} is not inside a group of this form: reload the page")
        if form.get(f"{key}.match") is not None:
            group = DraftGroup(_match(_text(form, f"{key}.match", 10)))
            parent.items.append(group)
            groups[key] = group
        else:
            parent.items.append(
                DraftCondition(
                    type=_text(form, f"{key}.type", 20),
                    path=_text(form, f"{key}.path").strip(),
                    op=_text(form, f"{key}.op", 40),
                    value=_text(form, f"{key}.value").strip(),
                    ref=_text(form, f"{key}.ref", 60),
                )
            )
    return root


def _match(value: str) -> str:
    return value if value in MATCHES else "all"


def _find(root: DraftGroup, key: str) -> tuple[DraftGroup | None, DraftGroup | DraftCondition | None]:
    """(parent, node) at ``key``; (None, root) for the root; (None, None) when absent."""
    if key == ROOT:
        return None, root
    parent: DraftGroup | None = None
    node: DraftGroup | DraftCondition = root
    for part in key.split(".")[1:]:
        if not isinstance(node, DraftGroup) or not part.isdigit() or int(part) >= len(node.items):
            return None, None
        parent, node = node, node.items[int(part)]
    return parent, node


def depth_of(key: str) -> int:
    """The level of the group at ``key``, the root being level 1."""
    return key.count(".") + 1


def apply_edit(root: DraftGroup, edit: str) -> str:
    """Change the tree as the ``edit`` button says; returns what to focus next, for keyboard
    users: ``KEY.type`` (a new row's first control), ``KEY.match`` (a new group's operator)
    or, after a removal, ``KEY.add`` (the "Add condition" button of the group it left)."""
    action, _, key = edit.partition(":")
    parent, node = _find(root, key)
    if node is None:
        raise InvalidInput("edit", f"{key[:40]!r} is not part of this form: reload the page")
    if action == "add_condition" and isinstance(node, DraftGroup):
        node.items.append(DraftCondition())
        return f"{key}.{len(node.items) - 1}.type"
    if action == "add_group" and isinstance(node, DraftGroup):
        if depth_of(key) >= MAX_DEPTH:
            raise InvalidInput("edit", f"groups nest at most {MAX_DEPTH} levels deep (the root is level 1)")
        # the other operator by default: an OR inside an AND is why one nests a group
        node.items.append(DraftGroup("any" if node.match == "all" else "all", [DraftCondition()]))
        return f"{key}.{len(node.items) - 1}.match"
    if action == "remove" and parent is not None:
        parent.items.remove(node)
        return key.rpartition(".")[0] + ".add"
    raise InvalidInput("edit", "must be add_condition, add_group or remove followed by the key of a group or row")


def _condition(row: DraftCondition) -> dict | None:
    if row.type == "trait":
        trait: dict[str, Any] = {"path": row.path, "op": row.op}
        if row.op in (FilterOp.IN.value, FilterOp.NOT_IN.value):
            trait["value"] = [_scalar(v.strip()) for v in row.value.split(",") if v.strip()]
        elif row.op not in (FilterOp.EXISTS.value, FilterOp.NOT_EXISTS.value):
            trait["value"] = _scalar(row.value)
        return {"type": "trait", "filter": trait}
    if row.type == "milestone":
        return {"type": "milestone", "milestone_id": row.ref, "status": row.op or "achieved"}
    if row.type == "tag":
        return {"type": "tag", "tag_id": row.ref, "has": row.op != "has_not"}
    return None


def _scalar(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def to_definition(group: DraftGroup) -> dict:
    """The definition JSON: rows without a type are skipped, and so are nested groups left
    with nothing in them; the API's validation decides the rest."""
    conditions: list[dict] = []
    for item in group.items:
        if isinstance(item, DraftGroup):
            nested = to_definition(item)
            if nested["conditions"]:
                conditions.append(nested)
        elif (condition := _condition(item)) is not None:
            conditions.append(condition)
    return {"type": "group", "match": group.match, "conditions": conditions}


def _value_text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_value_text(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def draft_of(definition: ConditionGroup) -> DraftGroup:
    """The builder's tree for a stored definition, or NotEditable naming what it cannot show."""
    draft = DraftGroup(definition.match)
    for condition in definition.conditions:
        if isinstance(condition, ConditionGroup):
            draft.items.append(draft_of(condition))
        elif isinstance(condition, TraitCondition):
            f = condition.filter
            draft.items.append(DraftCondition("trait", f.path, f.op.value, _value_text(f.value)))
        elif isinstance(condition, MilestoneCondition) and condition.days is None:
            draft.items.append(DraftCondition("milestone", op=condition.status.value, ref=condition.milestone_id))
        elif isinstance(condition, TagCondition):
            draft.items.append(DraftCondition("tag", op="has" if condition.has else "has_not", ref=condition.tag_id))
        else:
            what = "achieved within N days" if isinstance(condition, MilestoneCondition) else condition.type
            raise NotEditable(what)
    return draft


def keys(group: DraftGroup, key: str = ROOT) -> Iterator[str]:
    """Every key of the tree in document order (the order ``node`` is posted in)."""
    yield key
    for index, item in enumerate(group.items):
        child = f"{key}.{index}"
        if isinstance(item, DraftGroup):
            yield from keys(item, child)
        else:
            yield child


def dom_id(key: str) -> str:
    """The part of an element id a key gives: ``r`` -> ``""``, ``r.1.0`` -> ``1-0`` (so the
    root's rows keep the ids ``c0``, ``c1`` ... they always had)."""
    return key.partition(".")[2].replace(".", "-")


def number(key: str) -> str:
    """How the page names a node, counting from 1: ``r.1.0`` -> ``2.1``."""
    return ".".join(str(int(part) + 1) for part in key.split(".")[1:])
