//! Certificates: a CA generated per sandbox (kept in the state directory when there is one), the
//! serving certificate for 127.0.0.1/localhost, and client certificates for the workload
//! cluster kubeconfigs the simulated control planes publish.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, UnixTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, SanType, date_time_ymd,
};

/// Errors creating certificates or TLS configuration.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Certificate generation failed.
    #[error("generating a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// The TLS configuration was rejected.
    #[error("setting up TLS: {0}")]
    Rustls(#[from] rustls::Error),
    /// A PEM file could not be read.
    #[error("reading PEM: {0}")]
    Pem(String),
}

/// A certificate authority (PEM certificate and key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ca {
    /// CA certificate, PEM.
    pub cert_pem: String,
    /// CA private key, PEM.
    pub key_pem: String,
    /// The CA's common name (needed to issue under it again after a restart).
    pub common_name: String,
}

fn ca_params(cn: &str) -> Result<CertificateParams, rcgen::Error> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let (y, m, d) = ymd_in_days(-1);
    p.not_before = date_time_ymd(y, m, d);
    let (y, m, d) = ymd_in_days(3650);
    p.not_after = date_time_ymd(y, m, d);
    Ok(p)
}

/// The calendar date `days` from today (UTC).
pub fn ymd_in_days(days: i64) -> (i32, u8, u8) {
    let ts = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_hours(days * 24))
        .unwrap_or_else(|_| jiff::Timestamp::now());
    let date = ts.to_zoned(jiff::tz::TimeZone::UTC).date();
    (date.year() as i32, date.month() as u8, date.day() as u8)
}

/// What an issued certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// TLS server.
    Server,
    /// TLS client (kubeconfig user).
    Client,
}

impl Ca {
    /// A new CA.
    pub fn generate(common_name: &str) -> Result<Ca, TlsError> {
        let key = KeyPair::generate()?;
        let cert = ca_params(common_name)?.self_signed(&key)?;
        Ok(Ca {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            common_name: common_name.to_string(),
        })
    }

    /// Issues a certificate valid for `days` days.
    pub fn issue(
        &self,
        cn: &str,
        orgs: &[&str],
        sans: &[String],
        usage: Usage,
        days: i64,
    ) -> Result<(String, String), TlsError> {
        let ca_key = KeyPair::from_pem(&self.key_pem)?;
        let issuer = Issuer::new(ca_params(&self.common_name)?, ca_key);
        let mut p = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        for o in orgs {
            dn.push(DnType::OrganizationName, *o);
        }
        dn.push(DnType::CommonName, cn);
        p.distinguished_name = dn;
        p.subject_alt_names = sans
            .iter()
            .map(|s| match s.parse::<std::net::IpAddr>() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => s.clone().try_into().map(SanType::DnsName),
            })
            .collect::<Result<_, _>>()?;
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        p.extended_key_usages = vec![match usage {
            Usage::Server => ExtendedKeyUsagePurpose::ServerAuth,
            Usage::Client => ExtendedKeyUsagePurpose::ClientAuth,
        }];
        p.use_authority_key_identifier_extension = true;
        let (y, m, d) = ymd_in_days(-1);
        p.not_before = date_time_ymd(y, m, d);
        let (y, m, d) = ymd_in_days(days);
        p.not_after = date_time_ymd(y, m, d);
        let key = KeyPair::generate()?;
        let cert = p.signed_by(&key, &issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

/// A rustls server configuration for a PEM certificate and key. Clients may present a
/// certificate (workload kubeconfigs do); it is optional, and its chain is checked per request
/// against the CA of the workload cluster addressed ([`verify_client_chain`]), because each
/// cluster has its own CA and they appear while the server runs.
pub fn server_config(cert_pem: &str, key_pem: &str) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certs = rustls_pemfile::certs(&mut cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem(e.to_string()))?;
    let key = rustls_pemfile::private_key(&mut key_pem.as_bytes())
        .map_err(|e| TlsError::Pem(e.to_string()))?
        .ok_or_else(|| TlsError::Pem("no private key found".into()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(ClientCertRequest {
        algorithms: provider.signature_verification_algorithms,
    });
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Asks for an optional client certificate and checks that the client holds its key (the
/// handshake signature); which CA must have issued it depends on the path, so the chain is
/// verified later by [`verify_client_chain`].
#[derive(Debug)]
struct ClientCertRequest {
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl rustls::server::danger::ClientCertVerifier for ClientCertRequest {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A verifier of client certificates issued by one CA (PEM).
pub fn client_verifier(
    ca_pem: &str,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut ca_pem.as_bytes()) {
        roots.add(c.map_err(|e| TlsError::Pem(e.to_string()))?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| TlsError::Pem(format!("client certificate verifier: {e}")))
}

/// The identity in a client certificate chain (leaf first), if `verifier` accepts it.
pub fn verify_client_chain(
    verifier: &dyn rustls::server::danger::ClientCertVerifier,
    chain: &[CertificateDer<'static>],
) -> Option<ClientIdentity> {
    let (leaf, intermediates) = chain.split_first()?;
    verifier
        .verify_client_cert(leaf, intermediates, UnixTime::now())
        .ok()?;
    identity_of(leaf)
}

/// The subject of a verified client certificate: common name and organisations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// CN.
    pub common_name: String,
    /// O values.
    pub organizations: Vec<String>,
}

/// The subject common name of the first certificate in a PEM text.
pub fn common_name_of_pem(pem: &str) -> Option<String> {
    let der = rustls_pemfile::certs(&mut pem.as_bytes()).next()?.ok()?;
    identity_of(&der).map(|id| id.common_name)
}

/// Reads the subject of a DER certificate.
pub fn identity_of(der: &[u8]) -> Option<ClientIdentity> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject();
    let common_name = subject
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())
        .unwrap_or("")
        .to_string();
    let organizations = subject
        .iter_organization()
        .filter_map(|a| a.as_str().ok())
        .map(str::to_string)
        .collect();
    Some(ClientIdentity {
        common_name,
        organizations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_server_and_client_certs() {
        let ca = Ca::generate("capi-sandbox-ca").unwrap();
        let (cert, key) = ca
            .issue(
                "capi-sandbox",
                &[],
                &["127.0.0.1".into(), "localhost".into()],
                Usage::Server,
                365,
            )
            .unwrap();
        server_config(&cert, &key).unwrap();
        let (cert, _) = ca
            .issue("admin", &["system:masters"], &[], Usage::Client, 365)
            .unwrap();
        assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
        let der = rustls_pemfile::certs(&mut cert.as_bytes())
            .next()
            .unwrap()
            .unwrap();
        let id = identity_of(&der).unwrap();
        assert_eq!(id.common_name, "admin");
        assert_eq!(id.organizations, vec!["system:masters".to_string()]);
    }

    #[test]
    fn a_client_certificate_is_accepted_only_by_the_ca_that_issued_it() {
        let demo = Ca::generate("kubernetes").unwrap();
        let edge = Ca::generate("kubernetes").unwrap();
        let (cert, _) = demo
            .issue("kubernetes-admin", &["system:masters"], &[], Usage::Client, 365)
            .unwrap();
        let chain: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
        let by_demo = verify_client_chain(client_verifier(&demo.cert_pem).unwrap().as_ref(), &chain);
        assert_eq!(
            by_demo.map(|id| id.common_name).as_deref(),
            Some("kubernetes-admin")
        );
        // Same subject, different key: the other cluster's CA refuses it.
        assert!(verify_client_chain(client_verifier(&edge.cert_pem).unwrap().as_ref(), &chain).is_none());
        assert!(verify_client_chain(client_verifier(&demo.cert_pem).unwrap().as_ref(), &[]).is_none());
        assert_eq!(common_name_of_pem(&demo.cert_pem).as_deref(), Some("kubernetes"));
    }
}
