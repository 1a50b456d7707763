"""No import cycles anywhere in the package: among all of ``twin``'s modules, counting every
import statement (at the top of a module or inside a function, since a function-level
import that closes a circle only hides it), no module reaches itself. A package's
``__init__`` counts as a module of its own, so ``from twin.core.scenario import X`` inside
that package closes a circle too. The graph is grimp's, the library `lint-imports` uses."""

from __future__ import annotations

import grimp


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """The graph's cycles as its strongly connected components of more than one module
    (or one importing itself), by Tarjan's algorithm without recursion."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            w = next(children, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1 or v in graph[v]:
                    out.append(sorted(comp))
    return out


def test_the_cycle_finder_finds_a_circle_and_only_a_circle():
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}, "f": set()}
    assert strongly_connected(g) == [["a", "b", "c"], ["e"]]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []


def test_no_module_of_twin_imports_itself_round_a_circle():
    g = grimp.build_graph("twin", cache_dir=None)
    graph = {m: set(g.find_modules_directly_imported_by(m)) for m in g.modules}
    cycles = strongly_connected(graph)
    lines = []
    for comp in cycles:  # every import inside the circle, with where it is written
        for a in comp:
            for b in comp:
                if b in graph[a]:
                    for d in g.get_import_details(importer=a, imported=b):
                        lines.append(f"{a}:{d['line_number']} {d['line_contents']}")
    assert cycles == [], "import cycles:\n" + "\n".join(lines)
