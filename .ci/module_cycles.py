#!/usr/bin/env python3
"""Import cycles between the modules of each crate under crates/*/src; exits 1 naming each.

Usage: python3 .ci/module_cycles.py [CRATE_SRC_DIR ...]   (default: every crates/*/src)

What it reads. Each crate root (src/lib.rs, src/main.rs, src/bin/*.rs: each its own module
tree) and every module file its `mod x;` declarations reach, inline `mod x { ... }` blocks
included. Comments, strings and character literals are blanked first. Code gated by
`#[cfg(test)]` on a `mod` is left out (test-only imports do not make a build cycle, as in
`cargo modules` without `--cfg-test`). A module's references are its `use` trees and every
path in its code that starts with `crate::`, `super::`, `self::`, one of its child modules
or a name it imported. A path is resolved through the modules it names, to the module that
defines the item; a name a module imports (`use`, `pub use`, globs through the item names of
their source) is followed to where it is defined. So `use super::Deliver` in
`outbox/pipeline.rs`, where `outbox/mod.rs` has `pub use delivery::Deliver`, is a reference
to `outbox::delivery`, not to `outbox`. Paths into other crates are not followed.

The graph. Two levels, as the code is laid out: the crate's top-level modules (`store`,
`transparency`), and the direct submodules of each (`transparency::tree`, `api::list`).
Deeper modules count as their depth-2 ancestor (`transparency::witness::client` is
`transparency::witness`).
- A reference between two modules of which one contains the other (a parent `mod.rs`
  using or re-exporting its child; a child using its parent's own items) is no edge:
  a parent builds on its children, and children share the parent's types.
- Any other reference, from module A to module B, is an edge at the level of their nearest
  common ancestor P, between the two children of P that hold A and B. References between
  two top-level subtrees are edges between those top-level modules (so `store::sqlite ->
  transparency::tree` and `transparency::tree -> store` are the cycle store <-> transparency);
  references between two submodules of the same top-level module are edges between siblings.
A cycle is a strongly connected component of more than one module at one level: siblings
that import each other (directly or round a ring), or a module and a module outside its own
subtree. Each is printed with the references that close it (file:line).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
ITEM_RE = re.compile(
    r"\b(?:fn|struct|enum|trait|type|const|static|union)\s+(" + IDENT + r")|\bmacro_rules!\s*(" + IDENT + r")"
)
MOD_RE = re.compile(r"\bmod\s+(r#)?(" + IDENT + r")\s*([;{])")
USE_RE = re.compile(r"\b(pub(?:\s*\([^)]*\))?\s+)?use\s+([^;]*);")
PATH_RE = re.compile(r"(?<![A-Za-z0-9_:$.])(\$?" + IDENT + r")((?:\s*::\s*" + IDENT + r")+)")
CFG_TEST_RE = re.compile(r"#\[cfg\(test\)\]\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\s*\([^)]*\))?\s+)?$")


def blank(text: str) -> str:
    """`text` with comments, strings and char literals replaced by spaces (newlines kept)."""
    out = []
    i, n = 0, len(text)

    def spaces(s: str) -> str:
        return re.sub(r"[^\n]", " ", s)

    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(spaces(text[i:j]))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(spaces(text[i:j]))
            i = j
        elif (m := re.compile(r'b?r(#*)"').match(text, i)) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            end = text.find('"' + m.group(1), m.end())
            j = n if end < 0 else end + 1 + len(m.group(1))
            out.append(spaces(text[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(spaces(text[i : j + 1]))
            i = j + 1
        elif c == "'" and (m := re.compile(r"'(?:\\(?:x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]+\}|.)|[^\\'\n])'").match(text, i)):
            out.append(spaces(m.group(0)))
            i = m.end()
        else:
            out.append(c)
            i += 1
    return "".join(out)


def matching_brace(text: str, open_at: int) -> int:
    depth = 0
    for j in range(open_at, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return len(text)


def use_tree(tree: str) -> list[list[str]]:
    """The paths of a `use` tree (whitespace already dropped), groups expanded."""
    found: list[list[str]] = []

    def walk(prefix: list[str], s: str) -> None:
        for part in split_top(s):
            brace = part.find("{")
            if brace >= 0:
                head = [p for p in part[:brace].split("::") if p]
                walk(prefix + head, part[brace + 1 : part.rindex("}")])
            elif part:
                found.append(prefix + [p for p in part.split("::") if p])

    walk([], tree.lstrip(":"))
    return found


def split_top(s: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for j, c in enumerate(s):
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(s[start:j])
            start = j + 1
    parts.append(s[start:])
    return parts


def parse_use(tree: str) -> list[tuple[list[str], str | None]]:
    """Each path a `use` tree imports, with the name it binds there (None for a glob)."""
    # Rewrite `a as b` to `a@b` before whitespace is dropped, so aliases survive.
    tree = re.sub(r"\s+as\s+(" + IDENT + r")", r"@\1", tree)
    out = []
    for segs in use_tree(re.sub(r"\s+", "", tree)):
        alias = None
        if segs and "@" in segs[-1]:
            last, alias = segs[-1].split("@", 1)
            segs = segs[:-1] + [last]
        if segs and segs[-1] == "*":
            out.append((segs[:-1], None))
            continue
        if segs and segs[-1] == "self":
            segs = segs[:-1]
        if not segs:
            continue
        name = alias or segs[-1]
        out.append((segs, name))
    return out


@dataclass
class Module:
    path: tuple[str, ...]
    file: Path
    children: dict[str, "Module"] = field(default_factory=dict)
    items: set[str] = field(default_factory=set)
    imports: dict[str, list[str]] = field(default_factory=dict)
    globs: list[list[str]] = field(default_factory=list)
    # (path segments as written, line) of every reference.
    refs: list[tuple[list[str], int]] = field(default_factory=list)


class Crate:
    def __init__(self, name: str, root_file: Path) -> None:
        self.name = name
        self.root_file = root_file
        self.root = self.load(root_file, (), root_file.parent)

    def load(self, file: Path, path: tuple[str, ...], child_dir: Path) -> Module:
        text = blank(file.read_text(encoding="utf-8"))
        module = Module(path, file)
        self.read(module, text, 0, len(text), child_dir, text)
        return module

    def read(self, module: Module, text: str, start: int, end: int, child_dir: Path, whole: str) -> None:
        """Reads `whole[start:end]` into `module`, recursing into inline and file modules."""
        own: list[tuple[int, int]] = []  # spans of `whole` that belong to `module` itself
        pos = start
        for m in MOD_RE.finditer(whole, start, end):
            if m.start() < pos:
                continue
            name = m.group(2)
            test_only = CFG_TEST_RE.search(whole[max(0, m.start() - 200) : m.start()]) is not None
            if m.group(3) == "{":
                close = matching_brace(whole, m.end() - 1)
                own.append((pos, m.start()))
                pos = close + 1
                if not test_only:
                    child = Module(module.path + (name,), module.file)
                    module.children[name] = child
                    self.read(child, whole, m.end(), close, child_dir / name, whole)
            else:
                if test_only:
                    continue
                file = next(
                    (f for f in (child_dir / f"{name}.rs", child_dir / name / "mod.rs") if f.exists()),
                    None,
                )
                if file is None:
                    raise SystemExit(f"{module.file}: `mod {name};` has no file in {child_dir}")
                grand_dir = file.parent if file.name == "mod.rs" else file.parent / name
                module.children[name] = self.load(file, module.path + (name,), grand_dir)
        own.append((pos, end))
        for a, b in own:
            chunk = whole[a:b]
            line0 = whole.count("\n", 0, a) + 1
            for m in ITEM_RE.finditer(chunk):
                module.items.add(m.group(1) or m.group(2))
            uses = []
            for m in USE_RE.finditer(chunk):
                line = line0 + chunk.count("\n", 0, m.start())
                for segs, name in parse_use(m.group(2)):
                    if name is None:
                        module.globs.append(segs)
                    elif name != "_":
                        module.imports[name] = segs
                    module.refs.append((segs, line))
                uses.append((m.start(), m.end()))
            code = chunk
            for a2, b2 in reversed(uses):
                code = code[:a2] + re.sub(r"[^\n]", " ", code[a2:b2]) + code[b2:]
            for m in PATH_RE.finditer(code):
                segs = [m.group(1)] + [s.strip() for s in m.group(2).split("::")[1:]]
                line = line0 + code.count("\n", 0, m.start())
                module.refs.append((segs, line))

    def module(self, path: tuple[str, ...]) -> Module | None:
        mod = self.root
        for seg in path:
            mod = mod.children.get(seg)
            if mod is None:
                return None
        return mod

    def resolve(self, segs: list[str], ctx: Module, depth: int = 0) -> tuple[str, ...] | None:
        """The module that defines what `segs` names from `ctx`; None outside this crate."""
        if depth > 16 or not segs:
            return None
        first, rest = segs[0], segs[1:]
        if first in ("crate", "$crate"):
            cur = self.root
        elif first in ("self", "super"):
            cur = ctx
            while first in ("self", "super"):
                if first == "super":
                    if not cur.path:
                        return None
                    cur = self.module(cur.path[:-1])
                if not rest:
                    return cur.path
                first, rest = rest[0], rest[1:]
            rest = [first] + rest
        elif first in ctx.children:
            cur = ctx.children[first]
        elif first in ctx.imports:
            return self.resolve(ctx.imports[first] + rest, ctx, depth + 1)
        else:
            return None
        return self.walk(cur, rest, depth)

    def walk(self, cur: Module, rest: list[str], depth: int) -> tuple[str, ...] | None:
        while rest:
            seg = rest[0]
            if seg in cur.children:
                cur, rest = cur.children[seg], rest[1:]
            elif seg in cur.items:
                return cur.path
            elif seg in cur.imports:
                return self.resolve(cur.imports[seg] + rest[1:], cur, depth + 1)
            else:
                for glob in cur.globs:
                    source = self.resolve(glob, cur, depth + 1)
                    src = self.module(source) if source is not None else None
                    if src is not None and src is not cur and (
                        seg in src.children or seg in src.items or seg in src.imports
                    ):
                        return self.walk(src, rest, depth + 1)
                return cur.path
        return cur.path

    def modules(self):
        stack = [self.root]
        while stack:
            mod = stack.pop()
            yield mod
            stack.extend(mod.children.values())


@dataclass
class Edge:
    source: tuple[str, ...]
    target: tuple[str, ...]
    file: Path
    line: int


Level = dict[tuple[str, str], dict[tuple[tuple[str, ...], tuple[str, ...]], Edge]]


def levels(crate: Crate) -> dict[tuple[str, ...], Level]:
    """Per level (the root `()` and each top-level module), the edges between its children,
    each with the references that make it (first place of each pair of depth-2 modules)."""
    graph: dict[tuple[str, ...], Level] = {}
    for mod in crate.modules():
        for segs, line in mod.refs:
            target = crate.resolve(segs, mod)
            if target is None:
                continue
            a, b = mod.path[:2], target[:2]
            common = 0
            while common < min(len(a), len(b)) and a[common] == b[common]:
                common += 1
            if common == len(a) or common == len(b):
                continue  # the same module, or one contains the other
            level = a[:common]
            key = (a[common], b[common])
            refs = graph.setdefault(level, {}).setdefault(key, {})
            refs.setdefault((a, b), Edge(a, b, mod.file, line))
    return graph


def components(edges: Level) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    succ: dict[str, list[str]] = {}
    for a, b in edges:
        succ.setdefault(a, []).append(b)
        succ.setdefault(b, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(succ[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(succ):
        if v not in index:
            visit(v)
    return sorted(found)


def crate_roots(src: Path) -> list[Path]:
    roots = [src / "lib.rs", src / "main.rs"] + sorted((src / "bin").glob("*.rs"))
    return [r for r in roots if r.exists()]


def cycles(src: Path, base: Path | None = None) -> list[str]:
    """One description per cycle in the crate at `src`."""
    base = base or src.parent.parent
    found = []
    for root_file in crate_roots(src):
        crate = Crate(src.parent.name, root_file)
        for level, edges in sorted(levels(crate).items()):
            for comp in components(edges):
                name = lambda m: "::".join(level + (m,))  # noqa: E731
                lines = [f"{crate.name} ({rel(root_file, base)}): cycle among {', '.join(name(m) for m in comp)}"]
                for (a, b), refs in sorted(edges.items()):
                    if a in comp and b in comp:
                        for e in sorted(refs.values(), key=lambda e: (e.source, e.target)):
                            lines.append(
                                f"  {'::'.join(e.source)} -> {'::'.join(e.target)}  ({rel(e.file, base)}:{e.line})"
                            )
                found.append("\n".join(lines))
    return found


def rel(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def main(argv: list[str]) -> int:
    srcs = [Path(a) for a in argv] or sorted((ROOT / "crates").glob("*/src"))
    found = []
    for src in srcs:
        found += cycles(src.resolve(), ROOT if not argv else Path.cwd())
    for cycle in found:
        print(cycle)
    if found:
        print(f"{len(found)} module cycle(s); see the rule in .ci/module_cycles.py's header")
        return 1
    print(f"no module cycles in {len(srcs)} crate(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
