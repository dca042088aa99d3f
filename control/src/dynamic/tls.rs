//! The `tls` section of the dynamic configuration (certificates, options, stores) and the
//! small TLS types shared with routers and transports (`Certificate`, `Domain`).

use std::collections::BTreeMap;

/// ALPN protocols offered when a TLS options set does not list any.
pub const DEFAULT_ALPN_PROTOCOLS: [&str; 3] = ["h2", "http/1.1", "acme-tls/1"];

/// Everything under `tls`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TlsConfiguration {
    /// Certificates, each assigned to stores.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<CertAndStores>,
    /// TLS options sets by name (`default` applies when a router names none).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, TlsOptions>,
    /// Certificate stores by name (only `default` is used by Traefik).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub stores: BTreeMap<String, Store>,
}

/// A certificate/key pair; each is a file path or the PEM content itself.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Certificate {
    /// Certificate chain (path or PEM).
    pub cert_file: Option<String>,
    /// Private key (path or PEM).
    pub key_file: Option<String>,
}

/// A certificate of `tls.certificates`, with the stores it goes into.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CertAndStores {
    /// Certificate chain (path or PEM).
    pub cert_file: Option<String>,
    /// Private key (path or PEM).
    pub key_file: Option<String>,
    /// Stores receiving the certificate; empty means `default`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stores: Vec<String>,
}

impl CertAndStores {
    /// The certificate/key pair alone.
    pub fn certificate(&self) -> Certificate {
        Certificate {
            cert_file: self.cert_file.clone(),
            key_file: self.key_file.clone(),
        }
    }
}

/// A domain with its subject alternative names.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Domain {
    /// Main name (certificate subject).
    pub main: Option<String>,
    /// Alternative names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sans: Vec<String>,
}

/// A named set of server-side TLS parameters.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TlsOptions {
    /// Minimum version: `VersionTLS10` ... `VersionTLS13`.
    pub min_version: Option<String>,
    /// Maximum version: `VersionTLS10` ... `VersionTLS13`.
    pub max_version: Option<String>,
    /// Allowed cipher suites (Go names, TLS 1.2 and below); empty means the secure defaults.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cipher_suites: Vec<String>,
    /// Preferred curves, e.g. `CurveP521`, `X25519`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub curve_preferences: Vec<String>,
    /// Client certificate authentication.
    pub client_auth: Option<ClientAuth>,
    /// Reject handshakes whose SNI matches no certificate.
    pub sni_strict: Option<bool>,
    /// ALPN protocols offered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alpn_protocols: Vec<String>,
    /// Disables session ticket resumption.
    pub disable_session_tickets: Option<bool>,
    /// Deprecated and ignored.
    pub prefer_server_cipher_suites: Option<bool>,
}

impl TlsOptions {
    /// Minimum version; defaults to `VersionTLS12`.
    pub fn min_version(&self) -> &str {
        self.min_version.as_deref().unwrap_or("VersionTLS12")
    }

    /// ALPN protocols; defaults to `h2`, `http/1.1`, `acme-tls/1`.
    pub fn alpn_protocols(&self) -> Vec<&str> {
        if self.alpn_protocols.is_empty() {
            DEFAULT_ALPN_PROTOCOLS.to_vec()
        } else {
            self.alpn_protocols.iter().map(String::as_str).collect()
        }
    }

    /// Whether SNI is strict; defaults to `false`.
    pub fn sni_strict(&self) -> bool {
        self.sni_strict.unwrap_or(false)
    }
}

/// Client certificate authentication of a TLS options set.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientAuth {
    /// CAs (paths or PEM) trusted for client certificates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ca_files: Vec<String>,
    /// `NoClientCert`, `RequestClientCert`, `RequireAnyClientCert`,
    /// `VerifyClientCertIfGiven` or `RequireAndVerifyClientCert`.
    pub client_auth_type: Option<String>,
}

impl ClientAuth {
    /// Effective type: the configured one, else `RequireAndVerifyClientCert` when CAs are
    /// given, else `NoClientCert`.
    pub fn client_auth_type(&self) -> &str {
        match self.client_auth_type.as_deref() {
            Some(t) if !t.is_empty() => t,
            _ if !self.ca_files.is_empty() => "RequireAndVerifyClientCert",
            _ => "NoClientCert",
        }
    }
}

/// A certificate store.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Store {
    /// Certificate served when no other matches.
    pub default_certificate: Option<Certificate>,
    /// Default certificate obtained from a resolver instead.
    pub default_generated_cert: Option<GeneratedCert>,
}

/// A default certificate obtained from a certificate resolver.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GeneratedCert {
    /// Resolver name.
    pub resolver: Option<String>,
    /// Domain of the certificate.
    pub domain: Option<Domain>,
}
