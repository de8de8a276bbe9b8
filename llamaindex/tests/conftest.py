"""Skip this folder, saying why, when the framework it tests is not installed."""

from optional import folder_skip

collect_ignore_glob, REASON = folder_skip("llama_index.core", "llamaindex", "llamaindex/tests")


def pytest_report_header(config):
    return REASON
