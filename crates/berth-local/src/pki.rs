//! The local cluster's PKI and kubeconfig, generated in Rust (no openssl).
//!
//! Like kwokctl, one CA signs one "admin" certificate that serves the API (and kwok's kubelet
//! endpoint) and authenticates every client (`system:masters`); a separate key signs
//! ServiceAccount tokens. Everything stays on 127.0.0.1, so the SANs name only loopback.

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

use crate::Error;

/// PEM-encoded material of one cluster.
pub struct Pki {
    pub ca_cert: String,
    pub ca_key: String,
    pub admin_cert: String,
    pub admin_key: String,
    /// Private key that signs ServiceAccount tokens.
    pub sa_key: String,
    /// Its public half, which the API server verifies tokens with.
    pub sa_pub: String,
}

/// Names the admin certificate is valid for when it serves the API.
pub const SERVING_NAMES: &[&str] = &[
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
];

fn validity(params: &mut CertificateParams) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(365);
}

/// Generates a CA, the admin certificate and the ServiceAccount signing key.
pub fn generate() -> Result<Pki, Error> {
    let pki = |e: rcgen::Error| Error::Pki(e.to_string());

    let ca_key = KeyPair::generate().map_err(pki)?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name = DistinguishedName::new();
    ca.distinguished_name
        .push(DnType::CommonName, "berth-local-ca");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut ca);
    let ca_cert = ca.self_signed(&ca_key).map_err(pki)?;

    let admin_key = KeyPair::generate().map_err(pki)?;
    let mut admin = CertificateParams::new(
        SERVING_NAMES
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>(),
    )
    .map_err(pki)?;
    admin.subject_alt_names.push(SanType::IpAddress(
        "127.0.0.1".parse().expect("valid literal"),
    ));
    admin.distinguished_name = DistinguishedName::new();
    admin
        .distinguished_name
        .push(DnType::CommonName, "berth-admin");
    admin
        .distinguished_name
        .push(DnType::OrganizationName, "system:masters");
    admin.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    admin.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    validity(&mut admin);
    let issuer = Issuer::from_params(&ca, &ca_key);
    let admin_cert = admin.signed_by(&admin_key, &issuer).map_err(pki)?;

    let sa_key = KeyPair::generate().map_err(pki)?;

    Ok(Pki {
        ca_cert: ca_cert.pem(),
        ca_key: ca_key.serialize_pem(),
        admin_cert: admin_cert.pem(),
        admin_key: admin_key.serialize_pem(),
        sa_pub: sa_key.public_key_pem(),
        sa_key: sa_key.serialize_pem(),
    })
}

/// A kubeconfig for `server` (`https://127.0.0.1:PORT`) with the CA and the admin
/// credentials embedded, one context named `context`, set as current.
pub fn kubeconfig(
    server: &str,
    context: &str,
    ca_cert: &str,
    admin_cert: &str,
    admin_key: &str,
) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let doc = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {
            "server": server,
            "certificate-authority-data": b64(ca_cert),
        }}],
        "users": [{"name": context, "user": {
            "client-certificate-data": b64(admin_cert),
            "client-key-data": b64(admin_key),
        }}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        "current-context": context,
        "preferences": {},
    });
    // JSON is YAML: kubectl, client-go and kube-rs read it as a kubeconfig.
    serde_json::to_string_pretty(&doc).expect("a JSON value serialises")
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::prelude::*;

    fn der(pem: &str) -> Vec<u8> {
        let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).expect("PEM");
        p.contents
    }

    #[test]
    fn admin_cert_is_signed_by_the_ca_and_fits_every_use() {
        let pki = generate().expect("generate");
        let ca_der = der(&pki.ca_cert);
        let admin_der = der(&pki.admin_cert);
        let (_, ca) = X509Certificate::from_der(&ca_der).expect("ca");
        let (_, admin) = X509Certificate::from_der(&admin_der).expect("admin");

        assert!(ca.is_ca());
        assert_eq!(admin.issuer(), ca.subject());
        admin
            .verify_signature(Some(ca.public_key()))
            .expect("admin cert signed by the CA");

        // system:masters is what makes the admin an administrator of the API server.
        let org: Vec<_> = admin
            .subject()
            .iter_organization()
            .map(|o| o.as_str().unwrap().to_string())
            .collect();
        assert_eq!(org, ["system:masters"]);

        let eku = admin
            .extended_key_usage()
            .expect("eku")
            .expect("present")
            .value;
        assert!(eku.server_auth && eku.client_auth);

        let san = admin
            .subject_alternative_name()
            .expect("san")
            .expect("present")
            .value;
        let names: Vec<String> = san
            .general_names
            .iter()
            .map(|n| match n {
                GeneralName::DNSName(d) => d.to_string(),
                GeneralName::IPAddress(ip) => format!("{ip:?}"),
                other => format!("{other:?}"),
            })
            .collect();
        for name in SERVING_NAMES {
            assert!(
                names.iter().any(|n| n == name),
                "{name} missing from {names:?}"
            );
        }
        assert!(
            names.iter().any(|n| n == "[127, 0, 0, 1]"),
            "127.0.0.1 missing from {names:?}"
        );
        assert!(admin.validity().is_valid());
    }

    #[test]
    fn each_cluster_gets_its_own_keys() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a.ca_key, b.ca_key);
        assert_ne!(a.sa_key, a.admin_key);
        assert!(a.sa_key.contains("PRIVATE KEY"));
        assert!(a.sa_pub.contains("PUBLIC KEY"));
    }

    #[test]
    fn kubeconfig_embeds_credentials_and_selects_its_context() {
        let pki = generate().unwrap();
        let text = kubeconfig(
            "https://127.0.0.1:6443",
            "berth-local",
            &pki.ca_cert,
            &pki.admin_cert,
            &pki.admin_key,
        );
        let kc: kube::config::Kubeconfig =
            serde_json::from_str(&text).expect("parses as a kubeconfig");
        assert_eq!(kc.current_context.as_deref(), Some("berth-local"));
        let cluster = kc.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(cluster.server.as_deref(), Some("https://127.0.0.1:6443"));
        let ca = base64::engine::general_purpose::STANDARD
            .decode(cluster.certificate_authority_data.as_ref().unwrap())
            .unwrap();
        assert_eq!(String::from_utf8(ca).unwrap(), pki.ca_cert);
        let user = kc.auth_infos[0].auth_info.as_ref().unwrap();
        assert!(user.client_certificate_data.is_some() && user.client_key_data.is_some());
    }
}
