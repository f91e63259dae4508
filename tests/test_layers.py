"""The layering of the packages: every import (module level or inside a function) points to the
same layer or one below, and no modules import each other in a cycle.

Layers, bottom to top:
  config                      typed sections, loader, validation
  framework.records           atomic io, task directory, checkpoints, figures
  framework.data, envs        typed data, buffers, adders, trajectories; env families
  algos                       policies, networks, losses
  framework.runtime           setup, collector, learner, loop, evaluation
  framework.ray               actors, remote buffer views, session, driver
  framework.api               the run API
  framework.tune              (hyperparameter search)
  framework.cli               the command line
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("config", "algos", "envs", "framework")
LAYERS = [
    ("config",),
    ("framework.records",),
    ("framework.data", "envs"),
    ("algos",),
    ("framework.runtime",),
    ("framework.ray",),
    ("framework.api",),
    ("framework.tune",),
    ("framework.cli",),
]


def layer_of(module: str) -> int | None:
    best, level = -1, None
    for i, prefixes in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best:
                best, level = len(p), i
    return level


def modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            out[".".join(parts)] = path
    return out


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return {m for m in found if m.split(".")[0] in PACKAGES}


def graph() -> dict[str, set[str]]:
    mods = modules()
    edges = {}
    for name, path in mods.items():
        targets = set()
        for imp in imports_of(path):
            while imp and imp not in mods:  # `from a.b import name` -> module a.b
                imp = imp.rpartition(".")[0]
            if imp and imp != name:
                targets.add(imp)
        edges[name] = targets
    return edges


def test_every_module_has_a_layer():
    missing = [m for m in modules() if layer_of(m) is None and m not in PACKAGES]
    assert not missing, f"modules outside the layer table: {missing}"


def test_imports_point_down():
    upward = []
    for src, targets in graph().items():
        s = layer_of(src)
        for dst in targets:
            d = layer_of(dst)
            if s is not None and d is not None and d > s:
                upward.append(f"{src} (layer {s}) imports {dst} (layer {d})")
    assert not upward, "upward imports:\n" + "\n".join(sorted(upward))


def test_no_import_cycles():
    edges = graph()
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_checker_sees_function_level_imports(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("def f():\n    from framework.api import run\n    import algos.DQN.policy\n")
    assert {"framework.api", "framework.api.run", "algos.DQN.policy"} <= imports_of(src)
