import importlib
import subprocess
import sys
import types
from pathlib import Path

import jaxnet

ROOT = Path(__file__).resolve().parents[1]


def test_public_names_are_pinned():
    # Adding or removing a public name must be a deliberate change to this list.
    assert sorted(jaxnet.__all__) == sorted(
        [
            "MLP",
            "History",
            "backprop",
            "fit",
            "forward",
            "init",
            "per_example_grads",
            "value_and_grad",
            "gradcheck",
            "GradcheckReport",
            "Scaler",
            "fit_population",
            "PopulationHistory",
            "data",
            "save",
            "load",
            "Model",
        ]
    )
    for name in jaxnet.__all__:
        assert getattr(jaxnet, name) is not None


def test_each_name_is_the_object_its_module_defines():
    for name, module in jaxnet._EXPORTS.items():
        defined = importlib.import_module(f"jaxnet.{module or name}")
        assert getattr(jaxnet, name) is (getattr(defined, name) if module else defined), name
    assert isinstance(jaxnet.data, types.ModuleType) and callable(jaxnet.data.load)


def _fresh(code: str) -> str:
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "JAX_PLATFORMS": "cpu"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_import_is_lazy_and_submodule_imports_do_not_shadow_the_functions():
    # `import jaxnet` loads no JAX; importing every submodule first (as jaxnet.train and
    # jaxnet.verification users do) leaves jn.backprop and jn.gradcheck the functions.
    code = (
        "import sys, jaxnet as jn; print('jax' in sys.modules)\n"
        "import jaxnet.train, jaxnet.verification, jaxnet.backward\n"
        "print(type(jn.backprop).__name__, type(jn.gradcheck).__name__, jn.backprop.__module__)\n"
        "from jaxnet import backprop, gradcheck; print(callable(backprop), callable(gradcheck))"
    )
    assert _fresh(code).splitlines() == ["False", "function function jaxnet.backward", "True True"]


def _module_names(package: Path) -> set[str]:
    """The modules and sub-packages directly in ``package``: importing one binds its name on
    the package, over whatever the package exported under that name."""
    return {p.stem for p in package.glob("*.py") if p.stem != "__init__"} | {
        p.name for p in package.iterdir() if (p / "__init__.py").is_file()
    }


def test_no_module_shares_its_name_with_a_function_or_class():
    # `jaxnet.backprop` was a module and a function; `sweep.run` and `sweep.prepare` too. A
    # name that means both depends on import order.
    import jaxnet.sweep

    for namespace in (jaxnet, jaxnet.sweep):
        modules = _module_names(Path(namespace.__file__).parent)
        for name in namespace.__all__:
            value = getattr(namespace, name)
            if not isinstance(value, types.ModuleType):
                assert name not in modules, f"{namespace.__name__}.{name} is also a module name"


def test_unknown_names_raise_attribute_error():
    try:
        jaxnet.no_such_name  # noqa: B018
    except AttributeError as e:
        assert "no_such_name" in str(e)
    else:
        raise AssertionError("jaxnet.no_such_name did not raise")
    assert {"fit", "save", "data"} <= set(dir(jaxnet))


def test_submodules_are_attributes_as_before():
    code = "import jaxnet as jn; print(jn.train.OPTIMIZERS['sgd'].__name__, jn.population.__name__)"
    assert _fresh(code) == "sgd jaxnet.population"
