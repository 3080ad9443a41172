"""A moto server (ACM, Route 53, STS) for tests, and certificates to put in it.

Usage in a test module::

    from tests.helpers.moto import moto_aws, moto_server  # noqa: F401  (fixtures)

``moto_aws`` resets moto's state and points boto3's ACM, Route 53 and STS clients at
the server through ``AWS_ENDPOINT_URL_<SERVICE>``. API Gateway is not served here: the
local gateway plays it.
"""

from __future__ import annotations

import datetime
import urllib.request
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from moto.server import ThreadedMotoServer

#: Suffixes of boto3's AWS_ENDPOINT_URL_<SERVICE> variables. Route 53's service id is
#: "Route 53", hence ROUTE_53 (AWS_ENDPOINT_URL_ROUTE53 is silently ignored).
MOTO_SERVICES = ("ACM", "ROUTE_53", "STS")


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """One moto server for the session, on a free port; yields its base URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def moto_aws(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """moto with empty state, and boto3 pointed at it for ACM, Route 53 and STS."""
    request = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()
    for service in MOTO_SERVICES:
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", moto_server)
    return moto_server


#: The tests' own clients give up rather than hang on a stuck moto server.
CLIENT_CONFIG = Config(
    connect_timeout=5, read_timeout=10, retries={"mode": "standard", "total_max_attempts": 1}
)


def _client(service: str, moto_url: str, region: str):
    return boto3.client(service, region_name=region, endpoint_url=moto_url, config=CLIENT_CONFIG)


def self_signed_certificate(domain: str, alternative_names: list[str]) -> tuple[bytes, bytes]:
    """A PEM certificate and key for ``domain`` (+ SANs), valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(n) for n in dict.fromkeys([domain, *alternative_names])]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return (
        certificate.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def issued_certificate(
    moto_url: str, domain: str, *, region: str, alternative_names: list[str] | None = None
) -> str:
    """Import a self-signed certificate into moto's ACM: its status is ISSUED."""
    certificate, key = self_signed_certificate(domain, alternative_names or [])
    answer = _client("acm", moto_url, region).import_certificate(
        Certificate=certificate, PrivateKey=key
    )
    return answer["CertificateArn"]


def pending_certificate(moto_url: str, domain: str, *, region: str) -> str:
    """Request a DNS-validated certificate: moto leaves it PENDING_VALIDATION."""
    answer = _client("acm", moto_url, region).request_certificate(
        DomainName=domain, ValidationMethod="DNS"
    )
    return answer["CertificateArn"]


def hosted_zone(moto_url: str, zone_name: str, *, copy: str = "") -> str:
    """Create a public hosted zone; returns its id (without the /hostedzone/ prefix).

    ``copy`` makes another zone of the same name (as when moving DNS to a new zone).
    """
    answer = _client("route53", moto_url, "us-east-1").create_hosted_zone(
        Name=zone_name, CallerReference=f"wsapp-tests-{zone_name}{copy and '-' + copy}"
    )
    return answer["HostedZone"]["Id"].rsplit("/", 1)[-1]


def delete_records(moto_url: str, zone_id: str, records: list[dict]) -> None:
    """Delete record sets from a zone, as an operator would by hand."""
    _client("route53", moto_url, "us-east-1").change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": r} for r in records]},
    )


def delete_hosted_zone(moto_url: str, zone_id: str) -> None:
    """Delete a zone (it must hold only its NS and SOA records)."""
    _client("route53", moto_url, "us-east-1").delete_hosted_zone(Id=zone_id)


def alias_records(moto_url: str, zone_id: str) -> list[dict]:
    """The A alias records of a zone, for assertions."""
    answer = _client("route53", moto_url, "us-east-1").list_resource_record_sets(
        HostedZoneId=zone_id
    )
    return [r for r in answer["ResourceRecordSets"] if r["Type"] == "A" and "AliasTarget" in r]
