"""Repository hygiene: the CI runs the README's command, imports stay lazy, the API is typed."""

import re
import subprocess
import sys

from testdata import ROOT


def readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```bash\n(python3 -m venv .venv && [^\n]+)\n```", readme)


def test_ci_runs_the_readme_test_command():
    commands = readme_commands()
    assert len(commands) >= 2, "the README must show the install/run and the test commands"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert commands[1] in ci.splitlines()
    assert "torch==${TORCH_VERSION:-2.13.0}" in commands[0] and "python examples/python_reference.py" in commands[0]


def test_importing_the_core_loads_no_model_framework():
    code = ("import sys, memorag_integrations; "
            "print(sorted(m for m in ('torch', 'transformers', 'langchain_core', 'llama_index') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_package_is_typed():
    assert (ROOT / "memorag_integrations" / "py.typed").is_file()


def test_missing_extra_names_what_to_install():
    import pytest

    from memorag_integrations.errors import MissingDependencyError, require

    with pytest.raises(MissingDependencyError, match=r"pip install 'memorag-integrations\[bge\]'"):
        require("surely_not_an_installed_module", "bge")


def test_the_adapters_hold_no_retrieval_logic_of_their_own():
    """Fusion, the list of searches and the budget cut live in the core's pipeline, once."""
    for folder in ("langchain/langchain_memorag", "llamaindex/llama_index"):
        for path in (ROOT / folder).rglob("*.py"):
            code = path.read_text(encoding="utf-8")
            for banned in ("reciprocal_rank_fusion", "cut_to_budget", "query_weights", "engine.documents =",
                           "memory.memorize("):
                assert banned not in code, f"{path.relative_to(ROOT)} uses {banned}: go through the core pipeline"
