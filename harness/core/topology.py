"""Which cpus are close: the grouping the percpu kernel-doc promises.

The models group cpus by it, and triage counts groups with it to say where
a kernel bug that depends on the group count fires; both read this one
definition of the contract.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from harness.core.cases import LOCAL_DISTANCE, Case


def nodes_local(case: Case, a: int, b: int) -> bool:
    """LOCAL_DISTANCE both ways: the only closeness grouping accepts."""
    if case.distance is None:
        return True
    return case.distance[a][b] <= LOCAL_DISTANCE and case.distance[b][a] <= LOCAL_DISTANCE


def group_cpus(possible: Sequence[int], node_of: Callable[[int], int],
               nodes_local: Callable[[int, int], bool]) -> list[list[int]]:
    """Groups of mutually local cpus, in cpu order.

    The comment only says local cpus are grouped together and that cpus of
    different nodes never share a group; it is silent about non-transitive
    distances.  Taking each cpu in turn and putting it into the first group
    whose every member is local to it keeps both promises and is the
    natural reading.  Closeness is a property of nodes, so a group is
    checked by the nodes it holds rather than cpu by cpu.
    """
    groups: list[list[int]] = []
    group_nodes: list[set[int]] = []
    for cpu in possible:
        node = node_of(cpu)
        for group, nodes in zip(groups, group_nodes, strict=True):
            if all(nodes_local(node, other) for other in nodes):
                group.append(cpu)
                nodes.add(node)
                break
        else:
            groups.append([cpu])
            group_nodes.append({node})
    return groups
