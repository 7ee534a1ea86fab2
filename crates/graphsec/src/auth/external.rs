//! Tokens from external OIDC issuers (Entra ID style), verified with the issuers' published JWKS.
//!
//! Each configured issuer names its exact `iss`, the audiences it may carry (`aud`), and where its
//! public keys are: a JWKS URL (fetched at start, refreshed in the background honouring
//! `Cache-Control: max-age`, and refetched — rate-limited — when a token names an unknown `kid`)
//! or a JWKS file.
//!
//! What is refused: `alg: none`, every HMAC algorithm (so a public key can never be used as an
//! HMAC secret), an `alg` the selected key's type does not allow or that differs from the JWK's
//! own `alg`, symmetric (`oct`) and encryption keys in a JWKS, RSA keys under 2048 bits, and the
//! `jku`/`x5u` headers are never followed. `exp` is required, `nbf` is checked (60 s leeway both),
//! `iss` and `aud` must match exactly, and `tid` is required.
//!
//! Verified tokens are cached by their SHA-256 until they expire, in a bounded cache; a refresh
//! that withdraws or changes a key empties that cache, so a revoked key stops working at once.

use super::cache::TokenCache;
use super::jwks::{
    FAILED_REFRESH_RETRY, FETCH_TIMEOUT, KeySet, VerifyKey, clamp_max_age, load_keys, signing_algorithm,
};
use super::{AuthError, Claims, Principal};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

/// Longer tokens are refused before any parsing.
const MAX_TOKEN_BYTES: usize = 16 * 1024;
const LEEWAY_SECONDS: u64 = 60;
/// Refetches caused by an unknown `kid` happen at most this often per issuer.
const MIN_UNKNOWN_KID_REFRESH: Duration = Duration::from_secs(30);
const TOKEN_CACHE_CAPACITY: usize = 10_000;

/// One trusted external issuer.
#[derive(Debug, Clone)]
pub struct IssuerConfig {
    /// The exact `iss` of its tokens, e.g. `https://login.microsoftonline.com/{tenant}/v2.0`
    /// or `https://sts.windows.net/{tenant}/`.
    pub issuer: String,
    /// Accepted `aud` values, matched exactly: an App ID URI (`api://…`,
    /// `https://graph.microsoft.com`) for v1 tokens, the client id GUID for v2 tokens.
    pub audiences: Vec<String>,
    pub source: KeySource,
}

/// Where an issuer's public keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// `https://…` (or `http://…`, for tests and local IdPs) serving a JWKS document.
    JwksUrl(String),
    /// A file holding a JWKS document; reread when a token names an unknown `kid`.
    JwksFile(PathBuf),
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::JwksUrl(url) => write!(f, "{url}"),
            KeySource::JwksFile(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Verifies bearer tokens of the configured external issuers.
pub struct ExternalVerifier {
    issuers: Vec<Arc<Issuer>>,
    cache: Arc<Mutex<TokenCache>>,
    refresh_tasks: Vec<tokio::task::AbortHandle>,
}

impl Drop for ExternalVerifier {
    fn drop(&mut self) {
        for task in &self.refresh_tasks {
            task.abort();
        }
    }
}

impl std::fmt::Debug for ExternalVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalVerifier")
            .field("issuers", &self.issuers.iter().map(|i| i.config.issuer.as_str()).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The client key sets are fetched with: bounded in time, at most 3 redirects, and never from
/// https:// down to http://.
fn jwks_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .connect_timeout(FETCH_TIMEOUT)
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            let downgrade =
                attempt.previous().iter().any(|u| u.scheme() == "https") && attempt.url().scheme() != "https";
            if attempt.previous().len() > 3 || downgrade { attempt.stop() } else { attempt.follow() }
        }))
        .user_agent(concat!("graphsec/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| anyhow::anyhow!("cannot create the HTTP client for JWKS: {e}"))
}

/// Refuses an issuer configuration that cannot work, and builds the checks its tokens must pass.
fn check_config(config: &IssuerConfig) -> anyhow::Result<Validation> {
    if config.issuer.is_empty() {
        anyhow::bail!("an external issuer must not be empty");
    }
    let audiences: Vec<&String> = config.audiences.iter().filter(|a| !a.is_empty()).collect();
    if audiences.is_empty() {
        anyhow::bail!("external issuer {} needs at least one audience", config.issuer);
    }
    if let KeySource::JwksUrl(url) = &config.source {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            anyhow::bail!("the JWKS URL of issuer {} must be http:// or https://: {url}", config.issuer);
        }
        if url.starts_with("http://") {
            tracing::warn!(issuer = %config.issuer, %url, "JWKS is fetched over plain HTTP; use https:// outside tests");
        }
    }
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[&config.issuer]);
    validation.set_audience(&audiences);
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.validate_aud = true;
    validation.leeway = LEEWAY_SECONDS;
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    Ok(validation)
}

impl ExternalVerifier {
    /// Loads every issuer's keys once (files read, URLs fetched); any failure is an error naming
    /// the issuer and its key source. URL sources are then refreshed by a background task.
    pub async fn new(issuers: Vec<IssuerConfig>) -> anyhow::Result<ExternalVerifier> {
        let http = jwks_client()?;
        let cache = Arc::new(Mutex::new(TokenCache::new(TOKEN_CACHE_CAPACITY, LEEWAY_SECONDS)));
        let mut seen = HashSet::new();
        let mut loaded = Vec::with_capacity(issuers.len());
        let mut refresh_tasks = Vec::new();
        for config in issuers {
            if !seen.insert(config.issuer.clone()) {
                anyhow::bail!("external issuer {} is configured twice", config.issuer);
            }
            let validation = check_config(&config)?;
            let fetched = load_keys(&config.source, &http).await.map_err(|e| {
                anyhow::anyhow!(
                    "cannot load the signing keys of issuer {} from {}: {e:#}",
                    config.issuer,
                    config.source
                )
            })?;
            tracing::info!(
                issuer = %config.issuer,
                source = %config.source,
                keys = fetched.keys.len(),
                "loaded external issuer keys"
            );
            let is_url = matches!(config.source, KeySource::JwksUrl(_));
            let issuer = Arc::new(Issuer {
                config,
                validation,
                keys: RwLock::new(Arc::new(KeySet { keys: fetched.keys })),
                refresh: tokio::sync::Mutex::new(RefreshState {
                    last_unknown_kid_refresh: None,
                    min_interval: MIN_UNKNOWN_KID_REFRESH,
                }),
                http: http.clone(),
                cache: cache.clone(),
            });
            if is_url {
                let task = tokio::spawn(refresh_loop(Arc::downgrade(&issuer), clamp_max_age(fetched.max_age)));
                refresh_tasks.push(task.abort_handle());
            }
            loaded.push(issuer);
        }
        Ok(ExternalVerifier { issuers: loaded, cache, refresh_tasks })
    }

    /// Verifies a compact JWS. `Ok(None)` when its `iss` (read from the unverified payload only to
    /// pick the issuer) is not one of ours, so the caller can try the local key; `Err` for
    /// malformed tokens and for tokens of a configured issuer that fail any check.
    pub async fn verify(&self, token: &str) -> Result<Option<Principal>, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError("The access token is too large.".into()));
        }
        let now = jsonwebtoken::get_current_timestamp();
        let digest = super::cache::digest(token);
        if let Some(principal) = lock(&self.cache).get(&digest, now) {
            return Ok(Some(principal));
        }
        let Some(iss) = unverified_issuer(token)? else {
            return Ok(None);
        };
        let Some(issuer) = self.issuers.iter().find(|i| i.config.issuer == iss) else {
            return Ok(None);
        };
        let (principal, exp) = issuer.verify(token).await?;
        lock(&self.cache).insert(digest, principal.clone(), exp, now);
        Ok(Some(principal))
    }
}

struct Issuer {
    config: IssuerConfig,
    /// Everything but `algorithms`, which is set per token to the one allowed algorithm.
    validation: Validation,
    keys: RwLock<Arc<KeySet>>,
    /// Serialises refreshes, so concurrent misses share one fetch.
    refresh: tokio::sync::Mutex<RefreshState>,
    http: reqwest::Client,
    cache: Arc<Mutex<TokenCache>>,
}

struct RefreshState {
    last_unknown_kid_refresh: Option<Instant>,
    min_interval: Duration,
}

impl Issuer {
    async fn verify(&self, token: &str) -> Result<(Principal, u64), AuthError> {
        let header = unverified_header(token)?;
        let alg = signing_algorithm(&header.alg)
            .ok_or_else(|| AuthError("The token's signing algorithm is not accepted.".into()))?;
        let key = match self.select_key(header.kid.as_deref(), alg)? {
            Some(key) => key,
            None => {
                if header.kid.is_some() {
                    self.refresh_for_unknown_kid().await;
                }
                self.select_key(header.kid.as_deref(), alg)?
                    .ok_or_else(|| AuthError("The token's signing key is not known.".into()))?
            }
        };
        let mut validation = self.validation.clone();
        validation.algorithms = vec![alg];
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &key.decoding, &validation).map_err(token_error)?;
        let exp = data
            .claims
            .get("exp")
            .and_then(|exp| {
                exp.as_u64().or_else(|| exp.as_f64().filter(|f| f.is_finite() && *f >= 0.0).map(|f| f as u64))
            })
            .ok_or_else(|| AuthError("The token has no valid 'exp' claim.".into()))?;
        let claims: Claims = serde_json::from_value(data.claims)
            .map_err(|_| AuthError("The access token's claims are malformed.".into()))?;
        Ok((claims.into_principal()?, exp))
    }

    /// `Ok(None)`: no key has this `kid`.
    fn select_key(&self, kid: Option<&str>, alg: Algorithm) -> Result<Option<VerifyKey>, AuthError> {
        let set = self.keys.read().unwrap_or_else(PoisonError::into_inner).clone();
        let mismatch = || AuthError("The token's signing algorithm does not match its key.".into());
        match kid {
            Some(kid) => {
                let mut candidates = set.keys.iter().filter(|k| k.kid.as_deref() == Some(kid)).peekable();
                if candidates.peek().is_none() {
                    return Ok(None);
                }
                candidates.find(|k| k.allows(alg)).cloned().map(Some).ok_or_else(mismatch)
            }
            // Without a `kid`, only a set of exactly one key is unambiguous.
            None => match set.keys.as_slice() {
                [only] if only.allows(alg) => Ok(Some(only.clone())),
                [_] => Err(mismatch()),
                _ => Err(AuthError("The token has no key id ('kid').".into())),
            },
        }
    }

    /// Refetches the key set for an unknown `kid`, at most once per `min_interval`.
    async fn refresh_for_unknown_kid(&self) {
        let mut state = self.refresh.lock().await;
        if let Some(last) = state.last_unknown_kid_refresh
            && last.elapsed() < state.min_interval
        {
            return;
        }
        state.last_unknown_kid_refresh = Some(Instant::now());
        if let Err(e) = self.reload().await {
            tracing::warn!(
                issuer = %self.config.issuer,
                source = %self.config.source,
                error = %format!("{e:#}"),
                "refreshing the signing keys for an unknown key id failed; keeping the old keys"
            );
        }
    }

    /// The scheduled refresh; returns the delay until the next one.
    async fn refresh_scheduled(&self) -> Duration {
        let _guard = self.refresh.lock().await;
        match self.reload().await {
            Ok(max_age) => clamp_max_age(max_age),
            Err(e) => {
                tracing::warn!(
                    issuer = %self.config.issuer,
                    source = %self.config.source,
                    error = %format!("{e:#}"),
                    "refreshing the signing keys failed; keeping the old keys"
                );
                FAILED_REFRESH_RETRY
            }
        }
    }

    /// Fetches and installs a new key set; returns the document's `max-age`.
    async fn reload(&self) -> anyhow::Result<Option<Duration>> {
        let fetched = load_keys(&self.config.source, &self.http).await?;
        let new_ids: HashSet<&str> = fetched.keys.iter().map(|k| k.id.as_str()).collect();
        let old = self.keys.read().unwrap_or_else(PoisonError::into_inner).clone();
        let removed = old.keys.iter().any(|k| !new_ids.contains(k.id.as_str()));
        let count = fetched.keys.len();
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(KeySet { keys: fetched.keys });
        if removed {
            // A key was withdrawn (perhaps revoked): tokens it signed must be checked again.
            lock(&self.cache).clear();
        }
        tracing::debug!(issuer = %self.config.issuer, keys = count, removed, "refreshed signing keys");
        Ok(fetched.max_age)
    }
}

async fn refresh_loop(issuer: Weak<Issuer>, first_delay: Duration) {
    let mut delay = first_delay;
    loop {
        tokio::time::sleep(delay).await;
        let Some(issuer) = issuer.upgrade() else {
            return;
        };
        delay = issuer.refresh_scheduled().await;
    }
}

fn malformed() -> AuthError {
    AuthError("The access token is malformed.".into())
}

/// The three base64url segments of a compact JWS.
fn segments(token: &str) -> Result<[&str; 3], AuthError> {
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) if !h.is_empty() && !p.is_empty() => Ok([h, p, s]),
        _ => Err(malformed()),
    }
}

/// The `iss` of a token's payload, read *without* verification, only to pick the issuer.
fn unverified_issuer(token: &str) -> Result<Option<String>, AuthError> {
    let [_, payload, _] = segments(token)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|_| malformed())?;
    let mut claims: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes).map_err(|_| malformed())?;
    Ok(match claims.remove("iss") {
        Some(serde_json::Value::String(iss)) => Some(iss),
        _ => None,
    })
}

#[derive(Deserialize)]
struct PeekHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

fn unverified_header(token: &str) -> Result<PeekHeader, AuthError> {
    let [header, _, _] = segments(token)?;
    let bytes = URL_SAFE_NO_PAD.decode(header).map_err(|_| malformed())?;
    serde_json::from_slice(&bytes).map_err(|_| malformed())
}

fn token_error(e: jsonwebtoken::errors::Error) -> AuthError {
    use jsonwebtoken::errors::ErrorKind;
    AuthError(match e.kind() {
        ErrorKind::ExpiredSignature => "Lifetime validation failed, the token is expired.".into(),
        ErrorKind::ImmatureSignature => "Lifetime validation failed, the token is not yet valid.".into(),
        ErrorKind::InvalidIssuer => "The token's issuer is not trusted.".into(),
        ErrorKind::InvalidAudience => "Invalid audience.".into(),
        ErrorKind::InvalidSignature => "The token's signature is invalid.".into(),
        ErrorKind::InvalidAlgorithm => "The token's signing algorithm is not accepted.".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("The token has no '{claim}' claim."),
        ErrorKind::InvalidClaimFormat(claim) => format!("The token's '{claim}' claim is malformed."),
        _ => "The access token is invalid.".into(),
    })
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::jwks::{
        DEFAULT_MAX_AGE, KeyKind, MAX_JWKS_BYTES, MAX_MAX_AGE, MIN_MAX_AGE, parse_jwks, parse_max_age,
    };
    use axum::extract::State;
    use axum::http::{HeaderValue, StatusCode, header};
    use axum::response::{IntoResponse, Response};
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::{Value, json};
    use std::sync::atomic::{AtomicUsize, Ordering};

    const ISS_A: &str = "https://sts.windows.net/11111111-1111-1111-1111-111111111111/";
    const AUD_A: &str = "https://graph.microsoft.com";
    const ISS_B: &str = "https://login.microsoftonline.com/22222222-2222-2222-2222-222222222222/v2.0";
    const AUD_B: &str = "6e5e9c9a-0000-4000-8000-000000000001";

    /// A 2048-bit RSA key made for these tests only (PKCS#1 DER): generating one at test time
    /// in a debug build takes too long.
    const RSA_PKCS1_DER_B64: &str = concat!(
        "MIIEogIBAAKCAQEAvEtk/b3x6H01hST9D9BGPW/qvU9HLvwnL7ZkRDArT8jKDlO+LAttmSkjgUwF0UwAaARdLsfH",
        "QFFcJLNMR40tOzbGjp0qNKUvwFUo3P7cIQp4zBGZCP92H3NsbPfNFWVCEWJ9Xh5AhXDwG31ExhpyHghpgRGROius",
        "NGRWKwvsVcwY03OBWFD916PghECirzmImpBSn49RE+SeD3t40yg6XxSHO0Av5DWn4QDV6AGiVUlLc+CcMIysxR9M",
        "Wwi5FSCvgER/nCInX1liHd5oZTXrng55RU3flsTXJTMdpnUK+O8O9hPG5etU6JmwHv0upYrDbbZ6JNQZeJmx3fxp",
        "iOGsWQIDAQABAoIBAAg3khSwsVnf/PHuh0ylXitYMvpH92dJgbxHTWDcaUd2D7tIVEg/x2yjqvT9iFN16Z6gciCU",
        "f1GDO24ulOmac5rd7RRUL39UphzSmpHqXVjjyBm/utn1rAX7V4P53G1Ome+ASNBOqaopH5FTiijLBqfg3hnP1nKf",
        "bUhsCIagYpPr3Nz/8ikYBy1/oiUoBKiDjneNJXptIMbIQbkvuIp3/aDMLiJ42wJvSs5kHLrS4XFQZctuEsEIPHtT",
        "vBCJCSWJOhn7MKb3kl4pvvmlEQIJ94EzrEiHNhTAS0LQnqoBxbBfvd8kyNuFUmRHnWf5KdvVBj3wng5IbWnw/xk7",
        "lhmffgECgYEA/YaQJg4lsETKCKxz8U6js8hA02WxPd3yjlMSQDoAA6Qjg60T8NgKrrCXVC92ppus46QO59h7YtdV",
        "F24E8i3VUuH+Yu5jK2XNzOUMKEHnxuIhkMCTH/hwknH0qH3mclVh7gPF+GnpCCSZpMbi/EyXwuBGCqyk4H77JRPN",
        "qRUjHdECgYEAviHZw76x5wl4ISu+7MO+YZyji3AOe2ix7TwaTBg24oUSw/HMhDaRns/Wbh+xoMPUVv/PAK/g0U7M",
        "xHn8G4d8FoNOHHxQ8icBooYnlco+nAlWCigKt2MKJw/8zbe8GESKx4ko7ZtSVH/K5zgBr5KxpyJ8m/cRLJbxKiDy",
        "TWmToAkCgYBu/zwbPTRpASUHOSGl840eiD1BkJNSB9tLTrl93ybkcTePTfaeCqhapTwMAp/K//toywovnYsf0jES",
        "CfwmX8S2/fTXMZG/jVnWLC3vbjNg0t5pNrbzV11J8JRyNHTxd8phX8uMICqDgyq1htIYLhx/mJtxzvZ8x3uDVzFC",
        "pttyEQKBgFNks4gIty0X2SnrbxWYEYPs2UrKfn+gfxIH35zqrgAS0BVDlCmVaa+Xh3zLx/Q0kIkMMHYjrl7/yg6P",
        "VoWYmlOhifwyhqp/c1cesnQfvfBgo+1WfMTM2uIhQAfXA9g9EAXO4jW9f5Hyb0OVLCAfHm6pULBz4IOHPQX2Z3CO",
        "0yJJAoGAEFp1MrqtWpKPwCAy+nzC72Zmmzqgi2eyfLdJcLfRpk8n8UQlfQr0fVSEAnEacvj3vo+qeU/DgAG+bnBe",
        "uWF3CrCqxvydtsHNXsdNXGHGDtv4AG4QBYti09YTfV6urlqmct+QHNB0B/5sKWzU+KPyoTk/PDdd3ZTk7pHofoYo",
        "ZJo=",
    );
    const RSA_N: &str = concat!(
        "vEtk_b3x6H01hST9D9BGPW_qvU9HLvwnL7ZkRDArT8jKDlO-LAttmSkjgUwF0UwAaARdLsfHQFFcJLNMR40tOzbG",
        "jp0qNKUvwFUo3P7cIQp4zBGZCP92H3NsbPfNFWVCEWJ9Xh5AhXDwG31ExhpyHghpgRGROiusNGRWKwvsVcwY03OB",
        "WFD916PghECirzmImpBSn49RE-SeD3t40yg6XxSHO0Av5DWn4QDV6AGiVUlLc-CcMIysxR9MWwi5FSCvgER_nCIn",
        "X1liHd5oZTXrng55RU3flsTXJTMdpnUK-O8O9hPG5etU6JmwHv0upYrDbbZ6JNQZeJmx3fxpiOGsWQ",
    );

    struct TestKey {
        kid: String,
        alg: Algorithm,
        encoding: EncodingKey,
        jwk: Value,
        /// The public key bytes an attacker would try as an HMAC secret.
        public: Vec<u8>,
    }

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn rsa_key(kid: &str, alg: Algorithm, jwk_alg: Option<&str>) -> TestKey {
        let der = base64::engine::general_purpose::STANDARD.decode(RSA_PKCS1_DER_B64).unwrap();
        let mut jwk = json!({"kty": "RSA", "use": "sig", "kid": kid, "n": RSA_N, "e": "AQAB"});
        if let Some(a) = jwk_alg {
            jwk["alg"] = json!(a);
        }
        TestKey {
            kid: kid.into(),
            alg,
            encoding: EncodingKey::from_rsa_der(&der),
            public: URL_SAFE_NO_PAD.decode(RSA_N).unwrap(),
            jwk,
        }
    }

    fn ec_key(kid: &str) -> TestKey {
        use p256::pkcs8::EncodePrivateKey;
        let secret = p256::SecretKey::from_slice(&rand::random::<[u8; 32]>()).unwrap();
        let der = secret.to_pkcs8_der().unwrap();
        let point = secret.public_key().to_sec1_bytes();
        assert_eq!(point.len(), 65);
        TestKey {
            kid: kid.into(),
            alg: Algorithm::ES256,
            encoding: EncodingKey::from_ec_der(der.as_bytes()),
            jwk: json!({"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256",
                        "x": b64(&point[1..33]), "y": b64(&point[33..])}),
            public: point.to_vec(),
        }
    }

    fn ed_key(kid: &str) -> TestKey {
        let seed = rand::random::<[u8; 32]>();
        let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key().to_bytes();
        // PKCS#8 v1 for Ed25519: a fixed prefix, then the seed.
        let mut der =
            vec![0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
        der.extend_from_slice(&seed);
        TestKey {
            kid: kid.into(),
            alg: Algorithm::EdDSA,
            encoding: EncodingKey::from_ed_der(&der),
            jwk: json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(&public)}),
            public: public.to_vec(),
        }
    }

    fn jwks(keys: &[&TestKey]) -> String {
        json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()}).to_string()
    }

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    /// Entra v1 shape for issuer A (appid, roles), v2 shape for issuer B (azp, scp).
    fn claims(iss: &str) -> Value {
        if iss == ISS_B {
            json!({"iss": iss, "aud": AUD_B, "tid": "tenant-b", "azp": "client-b",
                   "oid": "user-b", "scp": "User.Read SecurityEvents.Read.All",
                   "iat": now(), "nbf": now() - 5, "exp": now() + 600, "ver": "2.0"})
        } else {
            json!({"iss": iss, "aud": AUD_A, "tid": "tenant-a", "appid": "app-a",
                   "roles": [super::super::READ_WRITE_ALL],
                   "iat": now(), "nbf": now() - 5, "exp": now() + 600, "ver": "1.0"})
        }
    }

    fn sign_as(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Value) -> String {
        let mut header = Header::new(alg);
        header.kid = kid.map(String::from);
        jsonwebtoken::encode(&header, claims, key).unwrap()
    }

    fn sign(key: &TestKey, claims: &Value) -> String {
        sign_as(key.alg, Some(&key.kid), &key.encoding, claims)
    }

    /// A token with an arbitrary header, signature bytes and payload.
    fn raw_token(header: &Value, claims: &Value, signature: &[u8]) -> String {
        format!("{}.{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()), b64(signature))
    }

    struct JwksServer {
        url: String,
        body: Mutex<String>,
        status: Mutex<u16>,
        cache_control: Mutex<Option<String>>,
        hits: AtomicUsize,
    }

    impl JwksServer {
        fn set_body(&self, body: String) {
            *self.body.lock().unwrap() = body;
        }
        fn set_status(&self, status: u16) {
            *self.status.lock().unwrap() = status;
        }
        fn hits(&self) -> usize {
            self.hits.load(Ordering::SeqCst)
        }
    }

    async fn jwks_handler(State(server): State<Arc<JwksServer>>) -> Response {
        server.hits.fetch_add(1, Ordering::SeqCst);
        let status = StatusCode::from_u16(*server.status.lock().unwrap()).unwrap();
        let mut response = (status, server.body.lock().unwrap().clone()).into_response();
        if let Some(value) = server.cache_control.lock().unwrap().as_deref() {
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_str(value).unwrap());
        }
        response
    }

    /// Serves a JWKS from 127.0.0.1 and counts the fetches.
    async fn serve_jwks(body: String) -> Arc<JwksServer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = Arc::new(JwksServer {
            url: format!("http://{}/keys", listener.local_addr().unwrap()),
            body: Mutex::new(body),
            status: Mutex::new(200),
            cache_control: Mutex::new(None),
            hits: AtomicUsize::new(0),
        });
        let app = axum::Router::new().route("/keys", axum::routing::get(jwks_handler)).with_state(server.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        server
    }

    fn url_issuer(iss: &str, aud: &str, server: &JwksServer) -> IssuerConfig {
        IssuerConfig { issuer: iss.into(), audiences: vec![aud.into()], source: KeySource::JwksUrl(server.url.clone()) }
    }

    /// Issuer A: RSA (RS256 and PS256 kids) and Ed25519 keys from a file, two audiences.
    /// Issuer B: one P-256 key from a local HTTP server.
    struct Fixture {
        verifier: ExternalVerifier,
        rsa: TestKey,
        pss: TestKey,
        ed: TestKey,
        ec: TestKey,
        server: Arc<JwksServer>,
        _dir: tempfile::TempDir,
    }

    async fn fixture() -> Fixture {
        let rsa = rsa_key("rsa-1", Algorithm::RS256, Some("RS256"));
        let pss = rsa_key("rsa-pss", Algorithm::PS256, None);
        let ed = ed_key("ed-1");
        let ec = ec_key("ec-1");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("jwks.json");
        std::fs::write(&file, jwks(&[&rsa, &pss, &ed])).unwrap();
        let server = serve_jwks(jwks(&[&ec])).await;
        let verifier = ExternalVerifier::new(vec![
            IssuerConfig {
                issuer: ISS_A.into(),
                audiences: vec!["api://graphsec".into(), AUD_A.into()],
                source: KeySource::JwksFile(file),
            },
            url_issuer(ISS_B, AUD_B, &server),
        ])
        .await
        .unwrap();
        Fixture { verifier, rsa, pss, ed, ec, server, _dir: dir }
    }

    async fn refused(verifier: &ExternalVerifier, token: &str) -> String {
        match verifier.verify(token).await {
            Err(AuthError(message)) => message,
            Ok(other) => panic!("accepted: {other:?}"),
        }
    }

    #[tokio::test]
    async fn valid_tokens_of_two_issuers() {
        let f = fixture().await;
        assert_eq!(f.server.hits(), 1);
        for key in [&f.rsa, &f.pss, &f.ed] {
            let p = f.verifier.verify(&sign(key, &claims(ISS_A))).await.unwrap().unwrap();
            assert_eq!(p.tenant.as_deref(), Some("tenant-a"), "{:?}", key.alg);
            assert!(p.can_read && p.can_write);
            assert_eq!(p.caller, "app-a");
        }
        // The other configured audience of issuer A.
        let mut c = claims(ISS_A);
        c["aud"] = json!("api://graphsec");
        assert!(f.verifier.verify(&sign(&f.ed, &c)).await.unwrap().is_some());
        // An `aud` array with one of ours.
        c["aud"] = json!(["urn:other", AUD_A]);
        assert!(f.verifier.verify(&sign(&f.ed, &c)).await.unwrap().is_some());

        let p = f.verifier.verify(&sign(&f.ec, &claims(ISS_B))).await.unwrap().unwrap();
        assert_eq!(p.tenant.as_deref(), Some("tenant-b"));
        assert!(p.can_read && !p.can_write);
        assert_eq!(p.caller, "user-b");
        // Issuer B has a single key: a token without `kid` selects it.
        let token = sign_as(Algorithm::ES256, None, &f.ec.encoding, &claims(ISS_B));
        assert!(f.verifier.verify(&token).await.unwrap().is_some());
        // Issuer A has several RS256-capable keys: without `kid` it is ambiguous.
        let token = sign_as(Algorithm::PS256, None, &f.pss.encoding, &claims(ISS_A));
        assert!(refused(&f.verifier, &token).await.contains("kid"));
    }

    #[tokio::test]
    async fn other_issuers_pass_through() {
        let f = fixture().await;
        let mut c = claims(ISS_A);
        c["iss"] = json!("https://sts.windows.net/99999999-9999-9999-9999-999999999999/");
        assert!(f.verifier.verify(&sign(&f.ed, &c)).await.unwrap().is_none());
        c.as_object_mut().unwrap().remove("iss");
        assert!(f.verifier.verify(&sign(&f.ed, &c)).await.unwrap().is_none());
        c["iss"] = json!([ISS_A]);
        assert!(f.verifier.verify(&sign(&f.ed, &c)).await.unwrap().is_none());
        // A local HS256 token is left to the local key.
        let secret = EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef").unwrap();
        c["iss"] = json!("graphsec-local");
        let local = sign_as(Algorithm::HS256, Some("graphsec-local-1"), &secret, &c);
        assert!(f.verifier.verify(&local).await.unwrap().is_none());
        // Nothing was fetched for them.
        assert_eq!(f.server.hits(), 1);
    }

    #[tokio::test]
    async fn claim_checks() {
        let f = fixture().await;
        let check = |edit: fn(&mut Value)| {
            let mut c = claims(ISS_B);
            edit(&mut c);
            sign(&f.ec, &c)
        };
        let v = &f.verifier;
        assert_eq!(refused(v, &check(|c| c["aud"] = json!(AUD_A))).await, "Invalid audience.");
        assert_eq!(refused(v, &check(|c| c["aud"] = json!([AUD_A, "x"]))).await, "Invalid audience.");
        assert!(refused(v, &check(|c| c["aud"] = json!(AUD_B.to_uppercase()))).await.contains("audience"));
        assert!(
            refused(
                v,
                &check(|c| {
                    c.as_object_mut().unwrap().remove("aud");
                })
            )
            .await
            .contains("'aud'")
        );
        assert!(refused(v, &check(|c| c["exp"] = json!(now() - 120))).await.contains("expired"));
        assert!(
            refused(
                v,
                &check(|c| {
                    c.as_object_mut().unwrap().remove("exp");
                })
            )
            .await
            .contains("'exp'")
        );
        assert!(refused(v, &check(|c| c["exp"] = json!("tomorrow"))).await.contains("'exp'"));
        assert!(refused(v, &check(|c| c["nbf"] = json!(now() + 600))).await.contains("not yet valid"));
        assert!(
            refused(
                v,
                &check(|c| {
                    c.as_object_mut().unwrap().remove("tid");
                })
            )
            .await
            .contains("'tid'")
        );
        assert!(refused(v, &check(|c| c["tid"] = json!(42))).await.contains("malformed"));
        // Within the 60 s leeway.
        assert!(v.verify(&check(|c| c["exp"] = json!(now() - 20))).await.is_ok());
        assert!(v.verify(&check(|c| c["nbf"] = json!(now() + 20))).await.is_ok());
    }

    #[tokio::test]
    async fn signature_and_algorithm_checks() {
        let f = fixture().await;
        let v = &f.verifier;
        let c = claims(ISS_B);

        // Signed by another key under our kid.
        let attacker = ec_key("ec-1");
        assert!(refused(v, &sign(&attacker, &c)).await.contains("signature"));
        // A tampered payload.
        let good = sign(&f.ec, &c);
        let [h, _, s] = segments(&good).unwrap();
        let mut evil = c.clone();
        evil["tid"] = json!("tenant-x");
        let tampered = format!("{h}.{}.{s}", b64(evil.to_string().as_bytes()));
        assert!(refused(v, &tampered).await.contains("signature"));
        // No signature at all.
        assert!(refused(v, &format!("{h}.{}.", b64(c.to_string().as_bytes()))).await.contains("signature"));

        // alg none, with and without a kid.
        for header in [json!({"alg": "none", "kid": "ec-1"}), json!({"alg": "none"}), json!({"alg": "None"})] {
            let token = raw_token(&header, &c, b"");
            assert!(refused(v, &token).await.contains("algorithm"), "{header}");
        }
        // Key-type confusion: HS256 keyed with the public key (several encodings of it).
        let a = claims(ISS_A);
        for (key, c) in [(&f.ec, &c), (&f.rsa, &a), (&f.ed, &a)] {
            for secret in [key.public.clone(), key.jwk.to_string().into_bytes()] {
                let hmac = EncodingKey::from_secret(&secret).unwrap();
                for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
                    let token = sign_as(alg, Some(&key.kid), &hmac, c);
                    assert!(refused(v, &token).await.contains("algorithm"));
                }
            }
        }
        // An algorithm the key type does not allow.
        let token = sign_as(Algorithm::RS256, Some("ec-1"), &f.rsa.encoding, &c);
        assert!(refused(v, &token).await.contains("does not match"));
        let token = raw_token(&json!({"alg": "ES384", "kid": "ec-1"}), &c, &[0; 96]);
        assert!(refused(v, &token).await.contains("does not match"));
        let token = sign_as(Algorithm::EdDSA, Some("rsa-1"), &f.ed.encoding, &a);
        assert!(refused(v, &token).await.contains("does not match"));
        // The JWK says RS256: the same RSA key may not be used with PS256 or RS512 under that kid.
        for alg in [Algorithm::PS256, Algorithm::RS512] {
            let token = sign_as(alg, Some("rsa-1"), &f.rsa.encoding, &a);
            assert!(refused(v, &token).await.contains("does not match"));
        }
        // The JWK without `alg` allows the RSA family.
        let token = sign_as(Algorithm::RS512, Some("rsa-pss"), &f.pss.encoding, &a);
        assert!(v.verify(&token).await.unwrap().is_some());
        // Unknown algorithm names.
        let token = raw_token(&json!({"alg": "XS256", "kid": "ec-1"}), &c, b"sig");
        assert!(refused(v, &token).await.contains("algorithm"));
    }

    #[tokio::test]
    async fn unknown_kid_refreshes_once_and_rotation() {
        let old = ec_key("ec-old");
        let server = serve_jwks(jwks(&[&old])).await;
        let v = ExternalVerifier::new(vec![url_issuer(ISS_B, AUD_B, &server)]).await.unwrap();
        assert_eq!(server.hits(), 1);
        let old_token = sign(&old, &claims(ISS_B));
        assert!(v.verify(&old_token).await.unwrap().is_some());
        assert_eq!(server.hits(), 1);

        // The IdP publishes a new key next to the old one; a token with the new kid refetches.
        let new = ec_key("ec-new");
        server.set_body(jwks(&[&old, &new]));
        assert!(v.verify(&sign(&new, &claims(ISS_B))).await.unwrap().is_some());
        assert_eq!(server.hits(), 2);

        // A flood of random kids right after causes no fetch.
        for i in 0..50 {
            let stranger = TestKey { kid: format!("random-{i}"), ..ec_key("x") };
            assert!(refused(&v, &sign(&stranger, &claims(ISS_B))).await.contains("not known"));
        }
        assert_eq!(server.hits(), 2);
        // Concurrent misses share the (rate-limited) refresh too.
        let stranger = ec_key("random-x");
        let token = sign(&stranger, &claims(ISS_B));
        let results = tokio::join!(v.verify(&token), v.verify(&token), v.verify(&token), v.verify(&token));
        assert!(results.0.is_err() && results.1.is_err() && results.2.is_err());
        assert!(results.3.is_err());
        assert_eq!(server.hits(), 2);

        // Once the interval has passed: the old key is withdrawn; the refetch drops it and the
        // cached verdict on its token.
        server.set_body(jwks(&[&new]));
        v.issuers[0].refresh.lock().await.min_interval = Duration::ZERO;
        assert!(refused(&v, &sign(&ec_key("random-y"), &claims(ISS_B))).await.contains("not known"));
        assert_eq!(server.hits(), 3);
        v.issuers[0].refresh.lock().await.min_interval = Duration::from_secs(3600);
        assert!(refused(&v, &old_token).await.contains("not known"));
        assert_eq!(server.hits(), 3);
    }

    #[tokio::test]
    async fn failed_refresh_keeps_old_keys() {
        let key = ec_key("ec-1");
        let server = serve_jwks(jwks(&[&key])).await;
        let v = ExternalVerifier::new(vec![url_issuer(ISS_B, AUD_B, &server)]).await.unwrap();
        let issuer = v.issuers[0].clone();
        issuer.refresh.lock().await.min_interval = Duration::ZERO;
        for (status, body) in [
            (500, jwks(&[&key])),
            (200, "not json".to_string()),
            (200, r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#.to_string()),
            (200, "x".repeat(MAX_JWKS_BYTES + 1)),
        ] {
            server.set_status(status);
            server.set_body(body);
            let before = server.hits();
            // An unknown kid triggers a refetch, which fails...
            assert!(refused(&v, &sign(&ec_key("other"), &claims(ISS_B))).await.contains("not known"));
            // ...and a scheduled refresh fails and retries later...
            assert_eq!(issuer.refresh_scheduled().await, FAILED_REFRESH_RETRY);
            assert_eq!(server.hits(), before + 2);
            // ...and the old key still works (fresh token, so no cache hit).
            let mut c = claims(ISS_B);
            c["jti"] = json!(format!("{status}-{before}"));
            assert!(v.verify(&sign(&key, &c)).await.unwrap().is_some());
        }
    }

    #[tokio::test]
    async fn scheduled_refresh_honours_max_age() {
        let key = ec_key("ec-1");
        let server = serve_jwks(jwks(&[&key])).await;
        let v = ExternalVerifier::new(vec![url_issuer(ISS_B, AUD_B, &server)]).await.unwrap();
        for (header, expected) in [
            (None, DEFAULT_MAX_AGE),
            (Some("public, max-age=600"), Duration::from_secs(600)),
            (Some("max-age=10"), MIN_MAX_AGE),
            (Some("no-cache"), MIN_MAX_AGE),
            (Some("max-age=99999999"), MAX_MAX_AGE),
            (Some("private"), DEFAULT_MAX_AGE),
        ] {
            *server.cache_control.lock().unwrap() = header.map(String::from);
            assert_eq!(v.issuers[0].refresh_scheduled().await, expected, "{header:?}");
        }
        assert_eq!(server.hits(), 7);
    }

    #[tokio::test]
    async fn cache_hits_and_expiry() {
        let f = fixture().await;
        let token = sign(&f.ec, &claims(ISS_B));
        assert!(f.verifier.verify(&token).await.unwrap().is_some());
        assert_eq!(lock(&f.verifier.cache).entries.len(), 1);

        // Withdraw every key without a refetch: the cached verdict still answers.
        let issuer = f.verifier.issuers[1].clone();
        *issuer.keys.write().unwrap() = Arc::new(KeySet { keys: Vec::new() });
        {
            let mut state = issuer.refresh.lock().await;
            state.last_unknown_kid_refresh = Some(Instant::now());
            state.min_interval = Duration::from_secs(3600);
        }
        let p = f.verifier.verify(&token).await.unwrap().unwrap();
        assert_eq!(p.tenant.as_deref(), Some("tenant-b"));

        // An expired entry is not used (and is dropped).
        for (_, exp) in lock(&f.verifier.cache).entries.values_mut() {
            *exp = now() - LEEWAY_SECONDS - 1;
        }
        assert!(refused(&f.verifier, &token).await.contains("not known"));
        assert!(lock(&f.verifier.cache).entries.is_empty());
        assert_eq!(f.server.hits(), 1);
    }

    #[tokio::test]
    async fn malformed_and_huge_tokens() {
        use rand::{Rng, SeedableRng};
        let f = fixture().await;
        let v = &f.verifier;
        let ours = b64(json!({"iss": ISS_B}).to_string().as_bytes());
        let nested = b64(format!("{}{}", "[".repeat(4000), "]".repeat(4000)).as_bytes());
        let fixed = [
            String::new(),
            ".".into(),
            "..".into(),
            "...".into(),
            "a.b.c".into(),
            "a.b".into(),
            "a.b.c.d".into(),
            "!!!.???.###".into(),
            format!("eyJhbGciOiJFUzI1NiJ9.{ours}"),
            format!("eyJhbGciOiJFUzI1NiJ9.{ours}.{ours}.x"),
            format!("garbage.{ours}.c2ln"),
            format!("e30.{ours}.c2ln"),
            format!("{}.{ours}.c2ln", b64(b"[1,2]")),
            format!("{}.{ours}.c2ln", b64(br#"{"alg": 5}"#)),
            format!("{}.{ours}.c2ln", b64(br#"{"alg": "ES256", "kid": 5}"#)),
            format!("{}.{ours}.%%%", b64(br#"{"alg": "ES256", "kid": "ec-1"}"#)),
            format!("eyJhbGciOiJFUzI1NiJ9.{}.c2ln", b64(b"[1]")),
            format!("eyJhbGciOiJFUzI1NiJ9.{}.c2ln", b64(&[0xff, 0xfe, 0x00])),
            format!("eyJhbGciOiJFUzI1NiJ9.{nested}.c2ln"),
            "é.é.é".into(),
            "x".repeat(MAX_TOKEN_BYTES + 1),
            format!("{}.{}.{}", "a".repeat(1 << 20), ours, "b".repeat(1 << 20)),
        ];
        for token in &fixed {
            assert!(v.verify(token).await.is_err(), "{:.80}", token);
        }
        // Random junk, up to the size limit: never a panic, never a principal.
        let alphabet = b"ABCxyz019-_.=+/ \n\x00\xc3";
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..300 {
            let len = rng.random_range(0..2048);
            let junk: Vec<u8> = (0..len).map(|_| alphabet[rng.random_range(0..alphabet.len())]).collect();
            let junk = String::from_utf8_lossy(&junk);
            assert!(!matches!(v.verify(&junk).await, Ok(Some(_))));
            let spliced = format!("{junk}.{ours}.{junk}");
            assert!(!matches!(v.verify(&spliced).await, Ok(Some(_))));
        }
        assert_eq!(f.server.hits(), 1);
    }

    #[tokio::test]
    async fn startup_failures_are_clear() {
        async fn err(configs: Vec<IssuerConfig>) -> String {
            format!("{:#}", ExternalVerifier::new(configs).await.unwrap_err())
        }
        // Nothing listens on this port any more.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let config = |source| IssuerConfig { issuer: ISS_B.into(), audiences: vec![AUD_B.into()], source };
        let e = err(vec![config(KeySource::JwksUrl(format!("http://127.0.0.1:{port}/keys")))]).await;
        assert!(e.contains(ISS_B) && e.contains("cannot load"), "{e}");
        let e = err(vec![config(KeySource::JwksFile("/nonexistent/jwks.json".into()))]).await;
        assert!(e.contains("/nonexistent/jwks.json"), "{e}");
        let e = err(vec![config(KeySource::JwksUrl("ftp://example/keys".into()))]).await;
        assert!(e.contains("http"), "{e}");

        let server = serve_jwks(jwks(&[&ec_key("k")])).await;
        server.set_status(404);
        assert!(err(vec![url_issuer(ISS_B, AUD_B, &server)]).await.contains("404"));
        server.set_status(200);
        server.set_body(" ".repeat(MAX_JWKS_BYTES + 1));
        assert!(err(vec![url_issuer(ISS_B, AUD_B, &server)]).await.contains("larger"));
        server.set_body(r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "k"}]}"#.into());
        assert!(err(vec![url_issuer(ISS_B, AUD_B, &server)]).await.contains("no usable"));
        server.set_body(jwks(&[&ec_key("k")]));
        let mut no_aud = url_issuer(ISS_B, AUD_B, &server);
        no_aud.audiences = vec![String::new()];
        assert!(err(vec![no_aud]).await.contains("audience"));
        let twice = vec![url_issuer(ISS_B, AUD_B, &server), url_issuer(ISS_B, AUD_B, &server)];
        assert!(err(twice).await.contains("twice"));
        assert!(ExternalVerifier::new(vec![url_issuer(ISS_B, AUD_B, &server)]).await.is_ok());
        // No issuer at all is fine: every token passes through.
        let none = ExternalVerifier::new(Vec::new()).await.unwrap();
        assert!(none.verify(&sign(&ec_key("k"), &claims(ISS_B))).await.unwrap().is_none());
    }

    #[test]
    fn jwks_parsing_keeps_only_usable_signature_keys() {
        let ec = ec_key("ec");
        let rsa = rsa_key("rsa", Algorithm::RS256, None);
        let mut enc = rsa.jwk.clone();
        enc["use"] = json!("enc");
        enc["kid"] = json!("enc");
        let mut oaep = rsa.jwk.clone();
        oaep["alg"] = json!("RSA-OAEP");
        oaep["kid"] = json!("oaep");
        let mut wrong_alg = ec.jwk.clone();
        wrong_alg["alg"] = json!("RS256");
        wrong_alg["kid"] = json!("wrong");
        let mut hs = ec.jwk.clone();
        hs["alg"] = json!("HS256");
        let mut ops = ec.jwk.clone();
        ops["key_ops"] = json!(["encrypt"]);
        let mut short_rsa = rsa.jwk.clone();
        short_rsa["n"] = json!(b64(&[0xab; 128]));
        let mut bad_ec = ec.jwk.clone();
        bad_ec["x"] = json!(b64(&[1; 31]));
        let mut p521 = ec.jwk.clone();
        p521["crv"] = json!("P-521");
        let document = json!({"keys": [
            ec.jwk, rsa.jwk, enc, oaep, wrong_alg, hs, ops, short_rsa, bad_ec, p521,
            {"kty": "oct", "k": "c2VjcmV0", "kid": "oct"},
            {"kty": "OKP", "crv": "X25519", "x": b64(&[1; 32])},
            {"kty": "weird"}, 17, "text",
        ]});
        let keys = parse_jwks(document.to_string().as_bytes()).unwrap();
        let kinds: Vec<_> = keys.iter().map(|k| (k.kid.as_deref(), k.kind)).collect();
        assert_eq!(kinds, [(Some("ec"), KeyKind::P256), (Some("rsa"), KeyKind::Rsa)]);
        assert!(parse_jwks(b"{}").is_err());
        assert!(parse_jwks(br#"{"keys": []}"#).is_err());
    }

    #[test]
    fn cache_control_parsing() {
        assert_eq!(parse_max_age("max-age=600"), Some(Duration::from_secs(600)));
        assert_eq!(parse_max_age("public, Max-Age=\"60\", must-revalidate"), Some(Duration::from_secs(60)));
        assert_eq!(parse_max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(parse_max_age("public"), None);
        assert_eq!(parse_max_age("max-age=-1"), None);
        assert_eq!(clamp_max_age(None), DEFAULT_MAX_AGE);
        assert_eq!(clamp_max_age(Some(Duration::ZERO)), MIN_MAX_AGE);
        assert_eq!(clamp_max_age(Some(Duration::from_secs(1 << 40))), MAX_MAX_AGE);
    }
}
