//! TLS to Consul (`providers.consul.tls`): the CA to trust, a client certificate, the name to
//! verify Consul's certificate against, or no verification at all, as a rustls configuration
//! on the ring provider the gateway uses.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::Arc;

/// PEM files and verification choice for TLS to Consul.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TlsFiles {
    /// CA certificate(s) to trust; the public web roots when unset.
    pub ca: Option<String>,
    /// Client certificate chain.
    pub cert: Option<String>,
    /// Client private key.
    pub key: Option<String>,
    /// Accept any server certificate.
    pub insecure_skip_verify: bool,
    /// The name Consul's certificate must carry, instead of the endpoint's host (as
    /// `CONSUL_TLS_SERVER_NAME`; e.g. `server.dc1.consul` when connecting by IP address).
    pub server_name: Option<String>,
}

impl From<&crate::static_config::ConsulTls> for TlsFiles {
    fn from(tls: &crate::static_config::ConsulTls) -> Self {
        Self {
            ca: tls.ca.clone(),
            cert: tls.cert.clone(),
            key: tls.key.clone(),
            insecure_skip_verify: tls.insecure_skip_verify,
            server_name: tls.server_name.clone(),
        }
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls client configuration for `tls` (plain web roots when `None`).
pub fn client_tls(tls: Option<&TlsFiles>) -> Result<ClientConfig, String> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?;
    let default = TlsFiles::default();
    let tls = tls.unwrap_or(&default);
    let builder = if tls.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider())))
    } else {
        let mut roots = RootCertStore::empty();
        match &tls.ca {
            Some(path) => {
                let certificates = CertificateDer::pem_file_iter(path)
                    .map_err(|e| format!("providers.consul.tls.ca: cannot read {path}: {e}"))?;
                for certificate in certificates {
                    let certificate =
                        certificate.map_err(|e| format!("providers.consul.tls.ca: {path}: {e}"))?;
                    roots
                        .add(certificate)
                        .map_err(|e| format!("providers.consul.tls.ca: {path}: {e}"))?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        match tls.server_name.as_deref().filter(|n| !n.is_empty()) {
            Some(name) => {
                let name = ServerName::try_from(name.to_string()).map_err(|e| {
                    format!("providers.consul.tls.serverName: {name:?} is not a host name: {e}")
                })?;
                let verifier =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
                        .build()
                        .map_err(|e| format!("TLS setup: {e}"))?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(NamedVerification {
                        verifier,
                        name,
                    }))
            }
            None => builder.with_root_certificates(roots),
        }
    };
    match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("providers.consul.tls.cert: cannot read {cert}: {e}"))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("providers.consul.tls.key: cannot read {key}: {e}"))?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                format!("providers.consul.tls: the certificate and key do not go together: {e}")
            })
        }
        (None, None) => Ok(builder.with_no_client_auth()),
        _ => Err("providers.consul.tls: cert and key go together; set both or neither".into()),
    }
}

/// `serverName`: the full verification, against the configured name instead of the host the
/// connection went to.
#[derive(Debug)]
struct NamedVerification {
    verifier: Arc<WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for NamedVerification {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.verifier
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verifier.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verifier.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.verifier.supported_verify_schemes()
    }
}

/// `insecureSkipVerify`: accepts any certificate (signatures are still checked with the
/// provider's algorithms). Shared by every TLS client of the project that offers the option.
#[derive(Debug)]
pub struct NoVerification(pub Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_insecure_configs_build() {
        assert!(client_tls(None).is_ok());
        let insecure = TlsFiles {
            insecure_skip_verify: true,
            ..Default::default()
        };
        assert!(client_tls(Some(&insecure)).is_ok());
    }

    #[test]
    fn bad_files_are_named() {
        let missing = TlsFiles {
            ca: Some("/nonexistent/ca.pem".into()),
            ..Default::default()
        };
        let err = client_tls(Some(&missing)).unwrap_err();
        assert!(
            err.contains("providers.consul.tls.ca") && err.contains("/nonexistent/ca.pem"),
            "{err}"
        );
        let half = TlsFiles {
            cert: Some("c.pem".into()),
            ..Default::default()
        };
        assert!(client_tls(Some(&half)).unwrap_err().contains("set both"));
        let bad_name = TlsFiles {
            server_name: Some("not a name".into()),
            ..Default::default()
        };
        assert!(client_tls(Some(&bad_name))
            .unwrap_err()
            .contains("providers.consul.tls.serverName"),);
    }
}
