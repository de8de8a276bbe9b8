"""The top-level `langchain/` folder never shadows the real `langchain`; the README example runs."""

import re
import subprocess
import sys
import textwrap

import pytest
from doc_examples import run, section
from lc_support import ROOT

# Resolves `langchain` as if it were not installed: every finder is asked as usual (the editable
# install's included), but the path search skips site-packages, where the real one lives.
HIDE_INSTALLED_LANGCHAIN = textwrap.dedent("""
    import importlib.machinery, os, sys

    class HideInstalledLangchain:
        def find_spec(self, name, path=None, target=None):
            if name != "langchain":
                return None
            outside = [p for p in sys.path if os.path.basename(p) not in ("site-packages", "dist-packages")]
            for finder in sys.meta_path:
                if finder is self:
                    continue
                if finder is importlib.machinery.PathFinder:
                    spec = finder.find_spec(name, outside, target)
                else:
                    spec = getattr(finder, "find_spec", lambda *a: None)(name, path, target)
                if spec is not None:
                    return spec
            raise ModuleNotFoundError("No module named 'langchain'", name=name)

    sys.meta_path.insert(0, HideInstalledLangchain())
""")


def run_python(code: str, cwd, root_on_path: bool) -> str:
    prelude = f"import sys; sys.path.insert(0, {str(ROOT)!r})\n" if root_on_path else ""
    done = subprocess.run([sys.executable, "-c", prelude + code], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_folder_is_no_package():
    assert not (ROOT / "langchain" / "__init__.py").exists()
    assert (ROOT / "langchain" / "langchain_memorag" / "__init__.py").is_file()


def test_the_installed_langchain_wins_from_the_repo_root():
    pytest.importorskip("langchain.agents", reason="the real langchain is not installed here")
    where = run_python("import langchain; print(langchain.__file__)", ROOT, root_on_path=True)
    assert where and not where.startswith(str(ROOT / "langchain"))


def test_without_langchain_installed_nothing_resolves_into_the_repo(tmp_path):
    code = HIDE_INSTALLED_LANGCHAIN + textwrap.dedent("""
        import langchain_memorag
        print(langchain_memorag.__file__)
        try:
            import langchain
            print("langchain", langchain.__path__)
        except ModuleNotFoundError:
            print("langchain absent")
    """)
    out = run_python(code, tmp_path, root_on_path=False).splitlines()
    assert out[0].startswith(str(ROOT / "langchain" / "langchain_memorag"))
    assert out[1] == "langchain absent"


def test_the_adapter_never_imports_langchain_even_from_the_repo_root():
    # With the repo root on sys.path, a bare `import langchain` would find the folder as a PEP 420
    # namespace when the real one is absent; the adapter must never ask for it.
    code = HIDE_INSTALLED_LANGCHAIN + textwrap.dedent("""
        import langchain_memorag, langchain_memorag.retriever, langchain_memorag.chain, langchain_memorag.tool
        print(sorted(m for m in sys.modules if m == "langchain" or m.startswith("langchain.")))
    """)
    assert run_python(code, ROOT, root_on_path=True) == "[]"


def readme_langchain_code() -> str:
    blocks = re.findall(r"```python\n(.*?)```", section(ROOT / "README.md", "LangChain"), re.S)
    assert blocks, "the README's LangChain section has no python example"
    return blocks[0]


@pytest.mark.slow
def test_readme_example_runs_as_written():
    done = run(readme_langchain_code())  # the run tests/slow/test_doc_examples.py makes, kept for the session
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert lines and "doc-0" in done.stdout, done.stdout
