"""A real Apache Kafka broker (KRaft, single node) on loopback for the tests.

The jars come from Maven Central (see kafka-pom.xml; `.ci/install` fetches them
into `.cache/kafka/libs`, or set NXTHDR_KAFKA_LIBS). The broker has three
listeners: PLAINTEXT, SASL_PLAINTEXT (SCRAM-SHA-512/256 and PLAIN users) and the
controller. `stop()` / `start()` keep the data directory, so a test can take the
broker away and bring it back.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from tests.support.ports import free_port  # noqa: F401  (re-exported to other tests)

REPO = Path(__file__).resolve().parents[2]
POM = Path(__file__).with_name("kafka-pom.xml")
USERS = {"risotto": "risotto", "pesto": "pesto", "saimiris": "saimiris", "admin": "admin-secret"}


def libs_dir() -> Path:
    return Path(os.environ.get("NXTHDR_KAFKA_LIBS", REPO / ".cache" / "kafka" / "libs"))


def fetch_jars(dest: Path | None = None) -> Path:
    dest = dest or libs_dir()
    if dest.is_dir() and any(dest.glob("kafka_2.13-*.jar")):
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mvn", "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
                    f"-DoutputDirectory={dest}", "-DincludeScope=runtime"], check=True)
    return dest


def jars_available() -> bool:
    d = libs_dir()
    return d.is_dir() and any(d.glob("kafka_2.13-*.jar")) and shutil.which("java") is not None


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class PortTaken(Exception):
    """The broker could not bind a listener: another socket holds the port."""


class KafkaBroker:
    def __init__(self, workdir: str | None = None) -> None:
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="nxthdr-kafka-"))
        self._pick_ports()
        self.proc: subprocess.Popen | None = None
        self.log_path = self.dir / "broker.log"
        self._formatted = False
        self._started_once = False

    def _pick_ports(self) -> None:
        self.plain_port = free_port()
        self.sasl_port = free_port()
        self.controller_port = free_port()
        self.ssl_port = free_port()
        self.sasl_ssl_port = free_port()

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.plain_port}"

    @property
    def sasl_bootstrap(self) -> str:
        return f"127.0.0.1:{self.sasl_port}"

    @property
    def ssl_bootstrap(self) -> str:
        return f"127.0.0.1:{self.ssl_port}"

    @property
    def sasl_ssl_bootstrap(self) -> str:
        return f"127.0.0.1:{self.sasl_ssl_port}"

    @property
    def ca_file(self) -> str:
        return str(self.dir / "tls" / "ca.pem")

    def _make_tls(self) -> Path:
        """A throwaway CA and a broker certificate for 127.0.0.1 (openssl), PEM as Kafka reads it."""
        tls = self.dir / "tls"
        if (tls / "broker.pem").exists():
            return tls
        tls.mkdir(parents=True, exist_ok=True)

        def ossl(*args: str) -> None:
            subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=tls)

        ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=nxthdr test CA")
        ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "broker.key", "-out", "broker.csr",
             "-subj", "/CN=127.0.0.1")
        (tls / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        ossl("x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "broker.crt", "-days", "2", "-extfile", "san.ext")
        ossl("pkcs8", "-topk8", "-nocrypt", "-in", "broker.key", "-out", "broker.pk8")
        (tls / "broker.pem").write_text((tls / "broker.pk8").read_text() + (tls / "broker.crt").read_text())
        return tls

    def _java(self, *args: str) -> list[str]:
        return ["java", "-Xms256m", "-Xmx768m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                "-cp", str(libs_dir() / "*"), *args]

    def _write_config(self) -> Path:
        plain_jaas = " ".join(f'user_{u}="{p}"' for u, p in USERS.items())
        tls = self._make_tls()
        cfg = f"""
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:{self.controller_port}
listeners=PLAINTEXT://127.0.0.1:{self.plain_port},SASL_PLAINTEXT://127.0.0.1:{self.sasl_port},SSL://127.0.0.1:{self.ssl_port},SASL_SSL://127.0.0.1:{self.sasl_ssl_port},CONTROLLER://127.0.0.1:{self.controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{self.plain_port},SASL_PLAINTEXT://127.0.0.1:{self.sasl_port},SSL://127.0.0.1:{self.ssl_port},SASL_SSL://127.0.0.1:{self.sasl_ssl_port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT
ssl.keystore.type=PEM
ssl.keystore.location={tls / "broker.pem"}
ssl.truststore.type=PEM
ssl.truststore.location={tls / "ca.pem"}
ssl.client.auth=none
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" {plain_jaas};
sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" {plain_jaas};
log.dirs={self.dir / "data"}
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
message.max.bytes=2000000
log.flush.interval.messages=1000000
"""
        path = self.dir / "server.properties"
        path.write_text(cfg)
        return path

    def start(self, timeout: float = 90.0, attempts: int = 5) -> None:
        """Start the broker; a port taken by someone else is retried.

        The first start formats storage: on a bind failure it takes new ports
        and formats again. A restart keeps the ports (the controller's address
        is written into the formatted storage, and clients hold the others),
        so it waits for them to be free again and retries.
        """
        if self.proc is not None and self.proc.poll() is None:
            return
        for attempt in range(1, attempts + 1):
            try:
                self._start_once(timeout)
                return
            except PortTaken as e:
                if attempt == attempts:
                    raise RuntimeError(f"Kafka could not bind its ports after {attempts} attempts: {e}") from None
                if self._formatted and self._started_once:
                    time.sleep(1.0 * attempt)
                else:
                    shutil.rmtree(self.dir / "data", ignore_errors=True)
                    self._formatted = False
                    self._pick_ports()

    def _start_once(self, timeout: float) -> None:
        cfg = self._write_config()
        if not self._formatted:
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
            scram = []
            for user, pw in USERS.items():
                for mech in ("SCRAM-SHA-512", "SCRAM-SHA-256"):
                    scram += ["--add-scram", f"{mech}=[name={user},password={pw}]"]
            subprocess.run(self._java("kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}",
                                      "-c", str(cfg), "--standalone", *scram),
                           check=True, capture_output=True)
            self._formatted = True
        log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self._java("kafka.Kafka", str(cfg)), stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None or self._bind_failed(log_start):
                if self._bind_failed(log_start):
                    self._kill()
                    raise PortTaken(self.log_tail(1500))
                raise RuntimeError(f"Kafka exited with {self.proc.returncode}: {self.log_tail()}")
            if all(_port_open(p) for p in (self.plain_port, self.sasl_port, self.ssl_port, self.sasl_ssl_port)):
                self._started_once = True
                return
            time.sleep(0.2)
        self._kill()
        raise RuntimeError(f"Kafka did not open its ports within {timeout}s: {self.log_tail()}")

    def _bind_failed(self, log_start: int) -> bool:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(log_start)
                text = f.read()
        except OSError:
            return False
        return b"Address already in use" in text or b"BindException" in text

    def _kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["fetch"]:
        print(fetch_jars())
    else:
        print("usage: python -m tests.services.kafka fetch", file=sys.stderr)
        sys.exit(2)
