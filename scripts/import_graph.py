"""The package's structure as numbers: files and lines per folder, and the import circles.

    python scripts/import_graph.py                 # this checkout's factorgan/
    python scripts/import_graph.py --root OTHER    # another checkout (e.g. a git worktree of an earlier commit)

An import is an arrow from the importing module to the imported one (``from factorgan.a
import b`` points at ``factorgan.a.b`` when that is a module). Arrows are counted twice:
those made when a module is imported (top level, outside ``if TYPE_CHECKING``), and all of
them (also imports inside functions, which defer a dependency rather than remove it). A
circle is a set of modules that reach one another (a strongly connected component).
"""
from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from pathlib import Path


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return getattr(test, "id", None) == "TYPE_CHECKING" or getattr(test, "attr", None) == "TYPE_CHECKING"


def imports(tree: ast.Module, modules: set[str], package: str) -> tuple[set[str], set[str]]:
    """(imported when the module loads, imported anywhere) among ``modules``."""
    top: set[str] = set()
    every: set[str] = set()

    def targets(node: ast.AST) -> set[str]:
        found = set()
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.split(".")[0] == package:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == package)
        return {t for t in found if t in modules}

    def visit(nodes: list[ast.stmt], at_top: bool) -> None:
        for node in nodes:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                t = targets(node)
                every.update(t)
                if at_top:
                    top.update(t)
            elif isinstance(node, ast.If) and _is_type_checking(node):
                continue  # for type checkers only
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(node.body, False)
            elif isinstance(node, ast.ClassDef):
                visit(node.body, at_top)
            else:
                for field in ("body", "orelse", "finalbody", "handlers"):
                    child = getattr(node, field, None)
                    if isinstance(child, list):
                        visit([c for c in child if isinstance(c, ast.stmt)] +
                              [s for h in child if isinstance(h, ast.ExceptHandler) for s in h.body], at_top)

    visit(tree.body, True)
    return top, every


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    component.append(m)
                    if m == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1], help="a checkout")
    parser.add_argument("--package", default="factorgan")
    args = parser.parse_args(argv)
    pkg = args.root / args.package
    if not pkg.is_dir():
        print(f"no package {pkg}", file=sys.stderr)
        return 2
    paths = {module_name(p, args.root): p for p in sorted(pkg.rglob("*.py"))}
    modules = set(paths)
    top: dict[str, set[str]] = {}
    every: dict[str, set[str]] = {}
    folders: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for name, path in paths.items():
        text = path.read_text()
        top[name], every[name] = imports(ast.parse(text), modules, args.package)
        top[name].discard(name)
        every[name].discard(name)
        folder = str(path.parent.relative_to(args.root))
        folders[folder][0] += 1
        folders[folder][1] += len(text.splitlines())
    print(f"{'folder':<34} {'files':>5} {'lines':>6}")
    for folder in sorted(folders):
        files, lines = folders[folder]
        print(f"{folder:<34} {files:>5} {lines:>6}")
    total = [sum(v[0] for v in folders.values()), sum(v[1] for v in folders.values())]
    print(f"{'all':<34} {total[0]:>5} {total[1]:>6}")
    over = sorted((len(p.read_text().splitlines()), n) for n, p in paths.items())
    print("modules over 400 lines: " + (", ".join(f"{n} ({k})" for k, n in over if k > 400) or "none"))
    for label, graph in (("at import", top), ("with imports inside functions", every)):
        arrows = sum(len(v) for v in graph.values())
        found = circles(graph)
        print(f"\nimports {label}: {arrows} arrows, {len(found)} circle(s)")
        for c in found:
            print("  circle: " + " <-> ".join(c))
    return 0


if __name__ == "__main__":
    sys.exit(main())
