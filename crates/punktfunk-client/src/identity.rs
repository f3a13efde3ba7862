//! The client's persistent identity: a self-signed ECDSA P-256 certificate it presents to hosts
//! (TLS client auth). Hosts know a client by the SHA-256 of this certificate, so it must survive
//! restarts: certificate and key live together in one file in the client dir (`identity.json`,
//! mode 0600), created atomically — several probes starting at once all end up with the same one.

use crate::atomic_file::create_atomic;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::path::{Path, PathBuf};

const FILE: &str = "identity.json";

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} is corrupt; remove it to create a new identity (hosts will have to pair again)")]
    Corrupt(PathBuf),
    #[error("creating the client certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

#[derive(serde::Serialize, serde::Deserialize)]
struct File {
    /// DER certificate, hex.
    cert: String,
    /// PKCS#8 DER private key, hex.
    key: String,
}

pub struct ClientIdentity {
    pub cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

use punktfunk_core::hex::{decode as unhex, encode as hex};

impl ClientIdentity {
    /// Loads the identity from `dir`, creating it the first time.
    pub fn load_or_create(dir: &Path) -> Result<ClientIdentity, IdentityError> {
        let path = dir.join(FILE);
        let io = |source| IdentityError::Io {
            path: path.clone(),
            source,
        };
        match std::fs::read(&path) {
            Ok(bytes) => return Self::parse(&bytes).ok_or(IdentityError::Corrupt(path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        let new =
            punktfunk_common::self_signed::new_identity("punktfunk-client", "punktfunk client")?;
        let file = File {
            cert: hex(&new.cert_der),
            key: hex(&new.key_der),
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| io(std::io::Error::other(e)))?;
        if create_atomic(&path, &bytes).map_err(io)? {
            tracing::info!(dir = %dir.display(), "created a new client identity");
            return Self::parse(&bytes).ok_or(IdentityError::Corrupt(path));
        }
        // Another process created it first: use theirs, so there is only ever one.
        let bytes = std::fs::read(&path).map_err(io)?;
        Self::parse(&bytes).ok_or(IdentityError::Corrupt(path))
    }

    fn parse(bytes: &[u8]) -> Option<ClientIdentity> {
        let file: File = serde_json::from_slice(bytes).ok()?;
        let (cert, key) = (unhex(&file.cert)?, unhex(&file.key)?);
        if cert.is_empty() || key.is_empty() {
            return None;
        }
        Some(ClientIdentity {
            cert: CertificateDer::from(cert),
            key: PrivatePkcs8KeyDer::from(key),
        })
    }

    /// Lowercase hex SHA-256 of the certificate: the id hosts store.
    pub fn fingerprint(&self) -> String {
        crate::tls::fingerprint_hex(self.cert.as_ref())
    }

    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.key.clone_key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_identity_persists_is_private_and_one_per_dir() {
        let dir = std::env::temp_dir().join(format!("pf-client-id-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let dir = dir.clone();
                std::thread::spawn(move || ClientIdentity::load_or_create(&dir).unwrap())
            })
            .collect();
        let fingerprints: Vec<String> = handles
            .into_iter()
            .map(|h| h.join().unwrap().fingerprint())
            .collect();
        assert!(
            fingerprints.windows(2).all(|w| w[0] == w[1]),
            "{fingerprints:?}"
        );
        let again = ClientIdentity::load_or_create(&dir).unwrap();
        assert_eq!(again.fingerprint(), fingerprints[0]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(dir.join(FILE), b"{\"cert\": \"zz\", \"key\": \"00\"}").unwrap();
        assert!(matches!(
            ClientIdentity::load_or_create(&dir),
            Err(IdentityError::Corrupt(_))
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn client_identity_hex_rejects_junk() {
        assert_eq!(unhex("00ff"), Some(vec![0, 255]));
        assert_eq!(unhex("0"), None);
        assert_eq!(unhex("+1"), None);
        assert_eq!(unhex("éé"), None);
    }
}
