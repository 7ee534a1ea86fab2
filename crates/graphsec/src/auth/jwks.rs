//! An issuer's JSON Web Key Set: fetched from its URL or read from its file, parsed into the
//! keys graphsec accepts for verifying, with how long the set may be kept.

use super::external::KeySource;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// A JWKS document larger than this is refused.
pub(super) const MAX_JWKS_BYTES: usize = 1024 * 1024;
/// At most this many keys of one JWKS are considered.
pub(super) const MAX_JWKS_KEYS: usize = 100;
pub(super) const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
pub(super) const MIN_MAX_AGE: Duration = Duration::from_secs(5 * 60);
pub(super) const MAX_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);
pub(super) const DEFAULT_MAX_AGE: Duration = Duration::from_secs(60 * 60);
pub(super) const MIN_RSA_MODULUS_BYTES: usize = 256;
/// A failed scheduled refresh is tried again this much later.
pub(super) const FAILED_REFRESH_RETRY: Duration = MIN_MAX_AGE;

pub(super) struct KeySet {
    pub(super) keys: Vec<VerifyKey>,
}

#[derive(Clone)]
pub(super) struct VerifyKey {
    pub(super) kid: Option<String>,
    pub(super) kind: KeyKind,
    /// The JWK's own `alg`, when it names one.
    pub(super) alg: Option<Algorithm>,
    pub(super) decoding: DecodingKey,
    /// The JWK as JSON: tells a changed or withdrawn key on refresh.
    pub(super) id: String,
}

impl VerifyKey {
    pub(super) fn allows(&self, alg: Algorithm) -> bool {
        self.kind.allows(alg) && self.alg.is_none_or(|a| a == alg)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyKind {
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl KeyKind {
    pub(super) fn allows(self, alg: Algorithm) -> bool {
        use Algorithm::*;
        match self {
            KeyKind::Rsa => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
            KeyKind::P256 => alg == ES256,
            KeyKind::P384 => alg == ES384,
            KeyKind::Ed25519 => alg == EdDSA,
        }
    }
}

/// The token algorithms ever accepted: asymmetric signatures only.
pub(super) fn signing_algorithm(name: &str) -> Option<Algorithm> {
    Some(match name {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        _ => return None,
    })
}

/// A JWK's `alg` as a token algorithm; `None` for anything that is not an accepted signature
/// algorithm (HMAC, encryption algorithms, unknown names).
pub(super) fn jwk_signing_algorithm(alg: &KeyAlgorithm) -> Option<Algorithm> {
    Some(match alg {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

pub(super) struct Fetched {
    pub(super) keys: Vec<VerifyKey>,
    pub(super) max_age: Option<Duration>,
}

pub(super) async fn load_keys(source: &KeySource, http: &reqwest::Client) -> anyhow::Result<Fetched> {
    let (body, max_age) = match source {
        KeySource::JwksUrl(url) => fetch_url(url, http).await?,
        KeySource::JwksFile(path) => (read_file(path.clone()).await?, None),
    };
    let keys = parse_jwks(&body)?;
    Ok(Fetched { keys, max_age })
}

pub(super) async fn fetch_url(url: &str, http: &reqwest::Client) -> anyhow::Result<(Vec<u8>, Option<Duration>)> {
    let mut response = http
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| anyhow::Error::new(e).context("request failed"))?;
    let status = response.status();
    if !status.is_success() {
        anyhow::bail!("the server answered HTTP {status}");
    }
    let max_age = response
        .headers()
        .get_all(reqwest::header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(parse_max_age);
    if response.content_length().is_some_and(|len| len > MAX_JWKS_BYTES as u64) {
        anyhow::bail!("the JWKS document is larger than {MAX_JWKS_BYTES} bytes");
    }
    let mut body = Vec::new();
    while let Some(chunk) =
        response.chunk().await.map_err(|e| anyhow::Error::new(e).context("reading the response failed"))?
    {
        if body.len() + chunk.len() > MAX_JWKS_BYTES {
            anyhow::bail!("the JWKS document is larger than {MAX_JWKS_BYTES} bytes");
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, max_age))
}

pub(super) async fn read_file(path: PathBuf) -> anyhow::Result<Vec<u8>> {
    tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<u8>> {
        use std::io::Read;
        let file = std::fs::File::open(&path)?;
        let mut body = Vec::new();
        file.take(MAX_JWKS_BYTES as u64 + 1).read_to_end(&mut body)?;
        if body.len() > MAX_JWKS_BYTES {
            anyhow::bail!("the JWKS document is larger than {MAX_JWKS_BYTES} bytes");
        }
        Ok(body)
    })
    .await
    .map_err(|e| anyhow::anyhow!("reading the file failed: {e}"))?
}

/// `max-age=N` from one `Cache-Control` value; `no-cache`/`no-store` count as zero.
pub(super) fn parse_max_age(value: &str) -> Option<Duration> {
    value.split(',').map(str::trim).find_map(|directive| {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-cache" || lower == "no-store" {
            return Some(Duration::ZERO);
        }
        let seconds = lower.strip_prefix("max-age=")?;
        seconds.trim_matches('"').parse::<u64>().ok().map(Duration::from_secs)
    })
}

pub(super) fn clamp_max_age(max_age: Option<Duration>) -> Duration {
    max_age.unwrap_or(DEFAULT_MAX_AGE).clamp(MIN_MAX_AGE, MAX_MAX_AGE)
}

/// The usable signature keys of a JWKS document; unusable keys are skipped (and logged).
pub(super) fn parse_jwks(body: &[u8]) -> anyhow::Result<Vec<VerifyKey>> {
    #[derive(Deserialize)]
    struct Document {
        keys: Vec<serde_json::Value>,
    }
    let document: Document =
        serde_json::from_slice(body).map_err(|e| anyhow::anyhow!("the document is not a JWKS: {e}"))?;
    let mut keys = Vec::new();
    for value in document.keys.into_iter().take(MAX_JWKS_KEYS) {
        match parse_key(&value) {
            Ok(key) => keys.push(key),
            Err(reason) => {
                let kid = value.get("kid").and_then(serde_json::Value::as_str);
                tracing::debug!(kid, reason, "skipping a JWKS key");
            }
        }
    }
    if keys.is_empty() {
        anyhow::bail!("the JWKS holds no usable signature key");
    }
    Ok(keys)
}

pub(super) fn parse_key(value: &serde_json::Value) -> Result<VerifyKey, &'static str> {
    let jwk: Jwk = serde_json::from_value(value.clone()).map_err(|_| "not a valid JWK")?;
    match &jwk.common.public_key_use {
        None | Some(PublicKeyUse::Signature) => {}
        Some(_) => return Err("not a signature key"),
    }
    if let Some(ops) = &jwk.common.key_operations
        && !ops.iter().any(|op| matches!(op, KeyOperations::Verify))
    {
        return Err("key_ops does not allow verify");
    }
    let decoded_len = |field: &str| URL_SAFE_NO_PAD.decode(field).map(|b| b.len()).ok();
    let kind = match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => {
            let n = URL_SAFE_NO_PAD.decode(&rsa.n).map_err(|_| "bad RSA modulus")?;
            let significant = n.iter().skip_while(|b| **b == 0).count();
            if significant < MIN_RSA_MODULUS_BYTES {
                return Err("RSA key shorter than 2048 bits");
            }
            if decoded_len(&rsa.e).is_none_or(|len| len == 0 || len > 8) {
                return Err("bad RSA exponent");
            }
            KeyKind::Rsa
        }
        AlgorithmParameters::EllipticCurve(ec) => {
            let (kind, size) = match ec.curve {
                EllipticCurve::P256 => (KeyKind::P256, 32),
                EllipticCurve::P384 => (KeyKind::P384, 48),
                _ => return Err("unsupported curve"),
            };
            if decoded_len(&ec.x) != Some(size) || decoded_len(&ec.y) != Some(size) {
                return Err("bad EC coordinates");
            }
            kind
        }
        AlgorithmParameters::OctetKeyPair(okp) => {
            if okp.curve != EllipticCurve::Ed25519 {
                return Err("unsupported curve");
            }
            if decoded_len(&okp.x) != Some(32) {
                return Err("bad Ed25519 key");
            }
            KeyKind::Ed25519
        }
        AlgorithmParameters::OctetKey(_) => return Err("symmetric keys are never trusted"),
        _ => return Err("unsupported key type"),
    };
    let alg = match &jwk.common.key_algorithm {
        None => None,
        Some(declared) => {
            let alg = jwk_signing_algorithm(declared).ok_or("not a signature algorithm")?;
            if !kind.allows(alg) {
                return Err("alg does not fit the key type");
            }
            Some(alg)
        }
    };
    let decoding = DecodingKey::from_jwk(&jwk).map_err(|_| "unusable key material")?;
    Ok(VerifyKey { kid: jwk.common.key_id.clone(), kind, alg, decoding, id: value.to_string() })
}
