"""The wire format is plain Avro: a stock Java producer (Apache Avro's BinaryMessageEncoder,
none of this project's code) writes events our codec decodes, and Java decodes ours.

Needs the JDK and Maven (present on the CI machine); Avro's jar comes from Maven Central."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from services.kit.contracts import codec
from services.kit.contracts.catalog import default_catalog
from services.kit.contracts.events import Origin, make_event

HERE = Path(__file__).parent / "java"


@pytest.fixture(scope="module")
def java_classpath(tmp_path_factory) -> str:
    for tool in ("mvn", "javac", "java"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is required for the interop test")
    out = tmp_path_factory.mktemp("java")
    subprocess.run(["mvn", "-q", "-B", "dependency:copy-dependencies", f"-DoutputDirectory={out / 'lib'}"],
                   cwd=HERE, check=True, timeout=600)
    cp = f"{out / 'lib'}/*"
    subprocess.run(["javac", "-cp", cp, "-d", str(out), str(HERE / "JavaProducer.java")], check=True, timeout=300)
    return f"{out}:{cp}"


def test_java_and_python_read_each_others_events(java_classpath, tmp_path):
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps(default_catalog().latest("ConsentChanged").expanded_json))
    py_event = make_event("ConsentChanged", origin=Origin("py", "1", "blue"), workflow_id="subject-py",
                          session_id="", correlation_id="subject-py", subject_id="subject-py", purpose="research", granted=False)
    (tmp_path / "python.bin").write_bytes(codec.encode(py_event))
    res = subprocess.run(["java", "-cp", java_classpath, "JavaProducer", str(schema), str(tmp_path / "java.bin"),
                          str(tmp_path / "python.bin")], capture_output=True, text=True, check=True, timeout=120)
    assert res.stdout.strip() == "subject-py|research|false", "Java decoded the Python-written event"
    decoded = codec.decode((tmp_path / "java.bin").read_bytes())
    assert decoded.event_type == "ConsentChanged"
    assert decoded.record["subject_id"] == "subject-java" and decoded.record["granted"] is True
    assert decoded.envelope["producer"]["service"] == "java-crm"
