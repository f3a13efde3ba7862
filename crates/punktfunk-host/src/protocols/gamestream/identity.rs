//! The host's GameStream identity: an RSA-2048 key and a self-signed certificate, separate from the
//! native (ECDSA) identity because Moonlight only speaks RSA. Moonlight pins the exact PEM it receives
//! while pairing, so the files are created once and never rewritten; losing them unpairs every client.

use crate::services::config_dir::{ensure_private, write_atomic};
use anyhow::{Context, Result, bail};
use punktfunk_core::gamestream::pairing::HostIdentity as PairingIdentity;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::path::Path;

const CERT_FILE: &str = "gamestream-cert.pem";
const KEY_FILE: &str = "gamestream-key.pem";

/// Clients must never see this certificate expire (they do not renew pins); 20 years like other hosts.
const VALIDITY_YEARS: i32 = 20;

pub struct GameStreamIdentity {
    /// What pairing signs with and hands out as `plaincert`.
    pub pairing: PairingIdentity,
    pub cert_der: CertificateDer<'static>,
    key_der: PrivatePkcs8KeyDer<'static>,
    /// Stable id clients track the host by (`uniqueid` in `/serverinfo`), derived from the certificate.
    pub unique_id: String,
}

impl GameStreamIdentity {
    /// Loads the identity from `dir`, creating it on first start.
    pub fn load_or_create(dir: &Path) -> Result<GameStreamIdentity> {
        let (cert_path, key_path) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
        let (cert_pem, key_pem) = match (cert_path.exists(), key_path.exists()) {
            (true, true) => {
                ensure_private(&key_path)?;
                (
                    std::fs::read(&cert_path)
                        .with_context(|| format!("reading {}", cert_path.display()))?,
                    std::fs::read(&key_path)
                        .with_context(|| format!("reading {}", key_path.display()))?,
                )
            }
            (false, false) => {
                let (cert_pem, key_pem) = generate()?;
                // Key first: a crash between the writes leaves a key without a certificate, which the
                // next start reports instead of silently replacing.
                write_atomic(&key_path, key_pem.as_bytes(), true)?;
                write_atomic(&cert_path, cert_pem.as_bytes(), true)?;
                tracing::info!(dir = %dir.display(), "created a new GameStream identity (RSA-2048)");
                (cert_pem.into_bytes(), key_pem.into_bytes())
            }
            _ => bail!(
                "incomplete GameStream identity in {} (one of {CERT_FILE}, {KEY_FILE} is missing); remove the other to start over (paired Moonlight clients must then pair again)",
                dir.display()
            ),
        };
        Self::from_pem(&cert_pem, &key_pem)
            .with_context(|| format!("GameStream identity in {} is unusable", dir.display()))
    }

    fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<GameStreamIdentity> {
        let pairing = PairingIdentity::from_pem(cert_pem, key_pem)?;
        let cert_der = CertificateDer::from(pairing.certificate().der().to_vec());
        let key_der = PrivatePkcs8KeyDer::from_pem_slice(key_pem)
            .context("the key must be a PKCS#8 PRIVATE KEY block")?;
        let unique_id = unique_id(&cert_der);
        Ok(GameStreamIdentity {
            pairing,
            cert_der,
            key_der,
            unique_id,
        })
    }

    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.key_der.clone_key())
    }
}

fn generate() -> Result<(String, String)> {
    let key_pair =
        rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)?;
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "punktfunk GameStream host");
    // Whole years are plenty here; starting a year early keeps a client whose clock is a little
    // behind from seeing a certificate that is not valid yet.
    let year = current_year();
    params.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
    params.not_after = rcgen::date_time_ymd(year + VALIDITY_YEARS, 1, 1);
    let cert = params.self_signed(&key_pair)?;
    Ok((cert.pem(), key_pair.serialize_pem()))
}

/// The calendar year now (to within a day around New Year, which `generate` allows for).
fn current_year() -> i32 {
    let days = crate::services::paired::now_unix() / 86_400;
    1970 + (days as f64 / 365.2425) as i32
}

/// The first 16 bytes of the certificate's SHA-256 as an upper-case UUID: stable for as long as the
/// certificate is, which is exactly as long as clients' pins stay valid.
fn unique_id(cert: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, cert);
    let hex: String = digest
        .as_ref()
        .iter()
        .take(16)
        .map(|b| format!("{b:02X}"))
        .collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gamestream_identity_persists_private_and_reloads_identically() {
        let dir = std::env::temp_dir().join(format!("pf-gs-identity-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let a = GameStreamIdentity::load_or_create(&dir).unwrap();
        let b = GameStreamIdentity::load_or_create(&dir).unwrap();
        assert_eq!(a.cert_der, b.cert_der);
        assert_eq!(a.unique_id, b.unique_id);
        assert_eq!(
            a.pairing.certificate().pem(),
            std::fs::read(dir.join(CERT_FILE)).unwrap()
        );
        // RSA-2048: the signature value certSig is 256 bytes.
        assert_eq!(a.pairing.certificate().signature().len(), 256);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for file in [KEY_FILE, CERT_FILE] {
                let mode = std::fs::metadata(dir.join(file))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600, "{file}");
            }
            let key = dir.join(KEY_FILE);
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
            let c = GameStreamIdentity::load_or_create(&dir).unwrap();
            assert_eq!(c.cert_der, a.cert_der, "same identity");
            let mode = std::fs::metadata(&key).unwrap().permissions().mode();
            assert_eq!(
                mode & 0o777,
                0o600,
                "a group-readable key is made private on load"
            );
        }
        std::fs::remove_file(dir.join(CERT_FILE)).unwrap();
        assert!(
            GameStreamIdentity::load_or_create(&dir).is_err(),
            "half an identity is an error"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
