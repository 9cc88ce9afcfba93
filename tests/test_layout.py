"""The house's layout rules, checked on the source: one-way imports, no private reach-ins,
rooms of one concept (a size bound), and names that do not mean two things."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "jaxnet"
MAX_LINES = 600  # issue 18's measure of a room of one concept


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(p): p for p in PACKAGE.rglob("*.py")}


def _target(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute module a relative ``from ... import`` names."""
    base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str, path: Path):
    """``(importer, imported module, imported name, at module level)`` of each relative import;
    when the name is itself a module (``from . import mlp``), the module is that one and the
    name is ``""``."""
    tree = ast.parse(path.read_text())
    top = set(tree.body)
    for block in tree.body:  # `if TYPE_CHECKING:` / try blocks at module level count as top
        if isinstance(block, (ast.If, ast.Try)):
            top |= set(block.body)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            target = _target(module, path, node)
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in MODULES:
                    yield module, sub, "", node in top
                else:
                    yield module, target, alias.name, node in top


def test_no_module_imports_another_modules_private_name():
    reached = [
        (m, target, name)
        for m, p in MODULES.items()
        for m, target, name, _ in _imports(m, p)
        if name.startswith("_")
        and not name.startswith("__")
        and target in MODULES
        and f"{target}.{name}" not in MODULES  # a private *module* (jaxnet._validate) is fine
    ]
    assert reached == []


def test_module_level_imports_form_no_circle():
    graph = {m: set() for m in MODULES}
    for m, p in MODULES.items():
        for _, target, _, top in _imports(m, p):
            if top and target in MODULES and target != m:
                graph[m].add(target)

    def is_package_of(a: str, b: str) -> bool:  # a package re-exporting its own submodules
        return b.startswith(a + ".")

    state: dict = {}

    def visit(m: str, path: list) -> list | None:
        state[m] = "open"
        for d in sorted(graph[m]):
            if is_package_of(m, d):
                continue
            if state.get(d) == "open":
                return path + [d]
            if d not in state and (found := visit(d, path + [d])):
                return found
        state[m] = "done"
        return None

    for m in sorted(graph):
        if m not in state:
            assert visit(m, [m]) is None, "import circle"


def test_no_file_is_a_room_of_many_concepts():
    sizes = {p: len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    sizes |= {p: len(p.read_text().splitlines()) for p in (ROOT / "scripts").rglob("*.py")}
    assert {str(p.relative_to(ROOT)): n for p, n in sizes.items() if n > MAX_LINES} == {}


def test_the_training_path_never_imports_verification():
    training = [m for m in MODULES if m.split(".")[1:2] in (["train"], ["chunks"], ["population"])]
    for m in training:
        for _, target, _, _ in _imports(m, MODULES[m]):
            assert "verification" not in target, m
