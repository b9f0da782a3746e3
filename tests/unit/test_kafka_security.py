"""TLS and SASL towards the brokers come from configuration, for the services and for plain aiokafka clients."""

import pytest
from faststream.security import SASLScram512

from shared.runtime.broker import kafka_client_options, kafka_security
from shared.runtime.settings import ServiceSettings


def settings(**values) -> ServiceSettings:
    return ServiceSettings(**values)


def test_plaintext_needs_no_security():
    assert kafka_security(settings()) is None
    assert kafka_client_options(settings()) == {}


def test_sasl_over_tls_with_scram_authenticates_and_encrypts():
    configured = settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="cri-routing",
        kafka_sasl_password="s3cret-from-the-environment",
    )
    security = kafka_security(configured)
    assert isinstance(security, SASLScram512) and security.use_ssl
    options = kafka_client_options(configured)
    assert (options["security_protocol"], options["sasl_mechanism"]) == ("SASL_SSL", "SCRAM-SHA-512")
    assert options["sasl_plain_username"] == "cri-routing"


def test_tls_alone_verifies_the_brokers():
    options = kafka_client_options(settings(kafka_security_protocol="SSL"))
    assert options["security_protocol"] == "SSL"
    assert options["ssl_context"].verify_mode.name == "CERT_REQUIRED"


def test_sasl_without_credentials_is_refused_with_the_variables_to_set():
    with pytest.raises(ValueError, match="CRI_KAFKA_SASL_USERNAME and CRI_KAFKA_SASL_PASSWORD"):
        kafka_security(settings(kafka_security_protocol="SASL_PLAINTEXT"))


def test_the_sasl_password_never_shows_in_the_settings_repr():
    configured = settings(kafka_sasl_password="s3cret-from-the-environment")
    assert "s3cret" not in repr(configured)
