//! TLS: loading a PEM certificate and key for `serve`, and `graphsec cert` for development.

use anyhow::Context;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

/// Builds the acceptor from PEM files (the certificate file may hold the whole chain).
pub fn acceptor(cert_path: &Path, key_path: &Path) -> anyhow::Result<TlsAcceptor> {
    let certs = CertificateDer::pem_file_iter(cert_path)
        .with_context(|| format!("cannot read the certificate {}", cert_path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is not a PEM certificate", cert_path.display()))?;
    if certs.is_empty() {
        anyhow::bail!("{} holds no certificate", cert_path.display());
    }
    let key = PrivateKeyDer::from_pem_file(key_path)
        .with_context(|| format!("cannot read a PEM private key from {}", key_path.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the certificate and the key do not form a usable pair")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Writes a self-signed certificate for `hosts` to `out/cert.pem` and its key to `out/key.pem`.
pub fn write_development_certificate(out: &Path, hosts: &[String]) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let certified = rcgen::generate_simple_self_signed(hosts.to_vec()).context("cannot generate the certificate")?;
    std::fs::write(out.join("cert.pem"), certified.cert.pem())?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(
        &mut options.open(out.join("key.pem"))?,
        certified.signing_key.serialize_pem().as_bytes(),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_development_certificate_loads() {
        let dir = tempfile::tempdir().unwrap();
        write_development_certificate(dir.path(), &["localhost".into()]).unwrap();
        assert!(acceptor(&dir.path().join("cert.pem"), &dir.path().join("key.pem")).is_ok());
        assert!(acceptor(&dir.path().join("key.pem"), &dir.path().join("key.pem")).is_err());
    }
}
