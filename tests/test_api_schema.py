"""The OpenAPI document holds: schemathesis runs generated requests against the running server
and finds no server error (5xx) and no response outside its documented schema and statuses.

The same command, with more examples, is in docs/api.md ("API schema check")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.fix_server import Server

pytestmark = pytest.mark.slow

CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"


def schemathesis_command(base_url: str, key: str, max_examples: int) -> list[str]:
    return [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{base_url}/openapi.json",
        "--checks",
        CHECKS,
        "--header",
        f"Authorization: Bearer {key}",
        "--exclude-path",
        "/alerts/stream",  # an endless event stream: covered by tests/test_alert_stream.py
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(max_examples),
        "--seed",
        "1",
        "--workers",
        "1",  # CPython 3.11's ast.parse is not thread-safe; hypothesis calls it (SystemError: AST ... mismatch)
        "--no-color",
        "--warnings",
        "off",
    ]


def test_generated_requests_find_no_server_error_and_no_response_outside_the_schema(server: Server) -> None:
    command = schemathesis_command(str(server.api.base_url).rstrip("/"), server.key, max_examples=15)
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stdout[-12000:] + result.stderr[-3000:]
