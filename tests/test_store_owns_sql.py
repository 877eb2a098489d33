"""Structure the issue asks to keep: SQL against the app's tables only in digest/core/store/, and no
module-level import cycle in digest/ (both read from the sources with ast, so they hold for every module,
imported by a test or not)."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from digest.core.store import MIGRATIONS

PKG = Path(__file__).resolve().parent.parent / "digest"
STORE_DIR = PKG / "core" / "store"
TABLES = sorted({t for m in MIGRATIONS for t in re.findall(r"CREATE (?:VIRTUAL )?TABLE (\w+)", m)})
_T = "|".join(TABLES)
# SQL as this code base writes it (upper-case keywords) naming a table, or any string that starts with a
# statement verb and names a table, whatever its case
SQL_PATTERNS = (
    re.compile(rf"\b(?:FROM|JOIN|INTO|UPDATE(?: OR \w+)?|TABLE|INDEXED BY)\s+(?:{_T})\b"),
    re.compile(rf"(?is)^\s*(?:SELECT|INSERT|UPDATE|DELETE|REPLACE|WITH|CREATE|DROP|ALTER)\b.*\b(?:{_T})\b"),
)


def sources(root: Path) -> Iterator[Path]:
    yield from sorted(root.rglob("*.py"))


def sql_strings(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every string constant in the file that is SQL against an app table. An f-string
    is checked as a whole with its placeholders blanked, and each literal part on its own."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        texts: list[str] = []
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            texts.append(node.value)
        elif isinstance(node, ast.JoinedStr):
            texts.append("".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values))
        for text in texts:
            if any(p.search(text) for p in SQL_PATTERNS):
                found.append((node.lineno, text.strip()[:80]))
    return found


def test_the_app_has_tables_to_look_for() -> None:
    assert {"feeds", "stories", "digests", "digest_items", "deliveries", "sent_links"} <= set(TABLES)


def test_the_scan_finds_sql_where_it_is(tmp_path: Path) -> None:
    """The detector is live: it finds the store's own statements, in plain strings, f-strings and
    lower-case SQL, and leaves prose alone."""
    assert sum(len(sql_strings(p)) for p in sources(STORE_DIR)) > 40
    sample = tmp_path / "sample.py"
    sample.write_text('a = "select id from stories where x = 1"\n'
                      'b = f"UPDATE feeds SET {cols} WHERE id = ?"\n'
                      'c = "Remove a feed and its stories from the store"\n', encoding="utf-8")
    assert sorted({line for line, _ in sql_strings(sample)}) == [1, 2]


def test_no_sql_against_the_app_tables_outside_the_store() -> None:
    outside = {
        f"{p.relative_to(PKG.parent)}:{line}: {text}"
        for p in sources(PKG) if STORE_DIR not in p.parents
        for line, text in sql_strings(p)
    }
    assert sorted(outside) == []


# -- import cycles -----------------------------------------------------------------------------------

def module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def module_level_imports(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """Imports that run when the module is imported: the module's body and the blocks in it (if, try,
    with, class bodies), not function bodies nor `if TYPE_CHECKING:`."""
    for stmt in body:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            yield stmt
        elif isinstance(stmt, ast.If):
            if not _is_type_checking(stmt.test):
                yield from module_level_imports(stmt.body)
            yield from module_level_imports(stmt.orelse)
        elif isinstance(stmt, ast.Try):
            for block in (stmt.body, stmt.orelse, stmt.finalbody, *(h.body for h in stmt.handlers)):
                yield from module_level_imports(block)
        elif isinstance(stmt, ast.With | ast.ClassDef):
            yield from module_level_imports(stmt.body)


def every_import(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """Imports anywhere in the module, deferred ones in functions included."""
    for node in ast.walk(ast.Module(body=body, type_ignores=[])):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node


def import_graph(find: Callable[[list[ast.stmt]], Iterator[ast.Import | ast.ImportFrom]] = module_level_imports,
                 ) -> dict[str, set[str]]:
    files = {module_name(p): p for p in sources(PKG)}
    graph: dict[str, set[str]] = {m: set() for m in files}
    for mod, path in files.items():
        is_pkg = path.name == "__init__.py"
        for node in find(ast.parse(path.read_text(encoding="utf-8")).body):
            if isinstance(node, ast.Import):
                graph[mod].update(a.name for a in node.names if a.name in files)
                continue
            base = node.module or ""
            if node.level:
                anchor = mod.split(".") if is_pkg else mod.split(".")[:-1]
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            subs = {f"{base}.{a.name}" for a in node.names} & set(files)
            graph[mod].update(subs or ({base} & set(files)))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (or a module importing itself): Tarjan."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_import_graph_is_read() -> None:
    graph = import_graph()
    assert "digest.core.store" in graph["digest.core.archive"]
    assert "digest.core.archive" in graph["digest.core.mail"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_level_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_the_core_has_no_cycle_even_through_deferred_imports() -> None:
    """archive and mail used to import each other (mail from inside functions, to dodge the cycle): the
    core's modules form no cycle even counting imports made inside functions."""
    core = {m: {d for d in deps if d.startswith("digest.core")}
            for m, deps in import_graph(every_import).items() if m.startswith("digest.core")}
    assert cycles(core) == []
