//! Certificates: a CA generated per sandbox (kept in the state directory when there is one), the
//! serving certificate for 127.0.0.1/localhost, and client certificates for the workload
//! cluster kubeconfigs the simulated control planes publish.

use std::sync::Arc;

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
/// certificate signed by `client_ca` (workload kubeconfigs do); it is optional.
pub fn server_config(
    cert_pem: &str,
    key_pem: &str,
    client_ca: Option<&str>,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certs = rustls_pemfile::certs(&mut cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem(e.to_string()))?;
    let key = rustls_pemfile::private_key(&mut key_pem.as_bytes())
        .map_err(|e| TlsError::Pem(e.to_string()))?
        .ok_or_else(|| TlsError::Pem("no private key found".into()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let mut cfg = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in rustls_pemfile::certs(&mut ca.as_bytes()) {
                roots.add(c.map_err(|e| TlsError::Pem(e.to_string()))?)?;
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .allow_unauthenticated()
                    .build()
                    .map_err(|e| TlsError::Pem(format!("client certificate verifier: {e}")))?;
            builder
                .with_client_cert_verifier(verifier)
                .with_single_cert(certs, key)?
        }
        None => builder.with_no_client_auth().with_single_cert(certs, key)?,
    };
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// The subject of a verified client certificate: common name and organisations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// CN.
    pub common_name: String,
    /// O values.
    pub organizations: Vec<String>,
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
        server_config(&cert, &key, Some(&ca.cert_pem)).unwrap();
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
}
