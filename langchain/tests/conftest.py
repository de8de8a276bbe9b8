"""Skip this folder, saying why, when the framework it tests is not installed."""

from optional import folder_skip

collect_ignore_glob, REASON = folder_skip("langchain_core", "langchain", "langchain/tests")


def pytest_report_header(config):
    return REASON
