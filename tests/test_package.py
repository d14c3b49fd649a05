"""The public face: __all__ is complete, and `import loom_nb` stays light."""

import importlib
import json
import subprocess
import sys

import loom_nb

PUBLIC_MODULES = [
    "loom_nb",
    "loom_nb.runtime",
    "loom_nb.models",
    "loom_nb.tools",
    "loom_nb.agents",
    "loom_nb.testing",
    "loom_nb.events",
    "loom_nb.config",
    "loom_nb.permissions",
    "loom_nb.workspace",
]


def test_every_name_in_all_resolves():
    for name in PUBLIC_MODULES:
        module = importlib.import_module(name)
        for attr in module.__all__:
            assert getattr(module, attr) is not None, f"{name}.{attr}"


def test_all_lists_every_public_name_of_the_subpackages():
    for name in PUBLIC_MODULES[1:]:
        module = importlib.import_module(name)
        public = {
            a
            for a, v in vars(module).items()
            if not a.startswith("_")
            and not isinstance(v, type(sys))
            and getattr(v, "__module__", name).startswith("loom_nb")
        }
        missing = public - set(module.__all__) - {"annotations", "TYPE_CHECKING", "log"}
        assert not missing, f"{name} exports {sorted(missing)} without listing them in __all__"


def test_top_level_all_matches_lazy_exports():
    assert set(loom_nb.__all__) == {
        "__version__",
        "load_ipython_extension",
        "unload_ipython_extension",
        *loom_nb._EXPORTS,
    }
    assert loom_nb.sub_agent.__module__ == "loom_nb.agents._sub_agent"


def test_import_is_light():
    code = (
        "import sys, time; t = time.perf_counter(); import loom_nb; dt = time.perf_counter() - t; "
        "import json; print(json.dumps({'dt': dt, 'heavy': [m for m in ('litellm', 'anthropic', 'pandas', "
        "'duckdb', 'pyvis', 'ipywidgets', 'httpx', 'pathspec') if m in sys.modules]}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    assert result["heavy"] == []
