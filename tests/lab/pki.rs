//! Certificate authorities made at run time, and the certificates they sign, as PEM files.

use std::path::{Path, PathBuf};

use rcgen::{CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair};

pub(crate) struct Ca {
    pub pem: String,
    params: CertificateParams,
    key: KeyPair,
}

/// A certificate and key written for a server to load.
pub(crate) struct Pair {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Ca {
    pub(crate) fn new(common_name: &str, organization: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        dn.push(DnType::OrganizationName, organization);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("a CA key");
        let cert = params.self_signed(&key).expect("a CA certificate");
        Self {
            pem: cert.pem(),
            params,
            key,
        }
    }

    pub(crate) fn write(&self, path: &Path) -> PathBuf {
        std::fs::write(path, &self.pem).expect("writing the CA");
        path.to_owned()
    }

    pub(crate) fn write_key(&self, path: &Path) -> PathBuf {
        std::fs::write(path, self.key.serialize_pem()).expect("writing the CA key");
        path.to_owned()
    }

    /// A server certificate for `names`, written as `DIR/STEM.crt` and `DIR/STEM.key`; `expired`
    /// puts its validity in the past.
    pub(crate) fn leaf(&self, dir: &Path, stem: &str, names: &[&str], expired: bool) -> Pair {
        let mut params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .expect("leaf params");
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, names[0]);
        params.distinguished_name = dn;
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = KeyPair::generate().expect("a leaf key");
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).expect("a leaf certificate");
        let pair = Pair {
            cert: dir.join(format!("{stem}.crt")),
            key: dir.join(format!("{stem}.key")),
        };
        std::fs::write(&pair.cert, cert.pem()).expect("writing a certificate");
        std::fs::write(&pair.key, key.serialize_pem()).expect("writing a key");
        pair
    }
}
