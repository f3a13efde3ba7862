//! The host's persistent identity: a self-signed ECDSA P-256 certificate and key in the config dir,
//! used by the punktfunk/1 control plane (and later the management API). Clients pin its SHA-256
//! fingerprint.

use crate::services::config_dir::{ensure_private, write_atomic};
use anyhow::{Context, Result, bail};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::path::Path;

pub struct HostIdentity {
    pub cert: CertificateDer<'static>,
    pub key: PrivatePkcs8KeyDer<'static>,
}

const CERT_FILE: &str = "host-cert.der";
const KEY_FILE: &str = "host-key.der";

impl HostIdentity {
    /// Loads the identity from `dir`, creating it on first start.
    pub fn load_or_create(dir: &Path) -> Result<HostIdentity> {
        let (cert_path, key_path) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
        match (cert_path.exists(), key_path.exists()) {
            (true, true) => {
                ensure_private(&key_path)?;
                let cert = std::fs::read(&cert_path)
                    .with_context(|| format!("reading {}", cert_path.display()))?;
                let key = std::fs::read(&key_path)
                    .with_context(|| format!("reading {}", key_path.display()))?;
                if cert.is_empty() || key.is_empty() {
                    bail!(
                        "host identity in {} is empty; remove both files to create a new one",
                        dir.display()
                    );
                }
                Ok(HostIdentity {
                    cert: CertificateDer::from(cert),
                    key: PrivatePkcs8KeyDer::from(key),
                })
            }
            (false, false) => {
                let new =
                    punktfunk_common::self_signed::new_identity("punktfunk", "punktfunk host")?;
                // Key first: a crash between the two writes leaves a key without a cert, which is
                // reported below instead of silently replaced.
                write_atomic(&key_path, &new.key_der, true)?;
                write_atomic(&cert_path, &new.cert_der, false)?;
                tracing::info!(dir = %dir.display(), "created a new host identity");
                Ok(HostIdentity {
                    cert: CertificateDer::from(new.cert_der),
                    key: PrivatePkcs8KeyDer::from(new.key_der),
                })
            }
            _ => bail!(
                "incomplete host identity in {} (one of {CERT_FILE}, {KEY_FILE} is missing); remove the other to start over",
                dir.display()
            ),
        }
    }

    /// Lowercase hex SHA-256 of the certificate, what clients pin.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.cert)
    }

    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.key.clone_key())
    }
}

pub use punktfunk_core::hex::certificate_fingerprint as fingerprint;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_persists_across_loads() {
        let dir = std::env::temp_dir().join(format!("pf-identity-{}", std::process::id()));
        let a = HostIdentity::load_or_create(&dir).unwrap();
        let b = HostIdentity::load_or_create(&dir).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint().len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let key = dir.join(KEY_FILE);
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&key), 0o600, "created private");
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
            let c = HostIdentity::load_or_create(&dir).unwrap();
            assert_eq!(c.fingerprint(), a.fingerprint(), "same identity");
            assert_eq!(
                mode(&key),
                0o600,
                "a world-readable key is made private on load"
            );
        }
        std::fs::remove_file(dir.join(CERT_FILE)).unwrap();
        assert!(
            HostIdentity::load_or_create(&dir).is_err(),
            "half an identity is an error"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
