from tests.sflow.conftest import pmacct_datagrams, pmacct_manifest  # noqa: F401  (shared fixtures)
