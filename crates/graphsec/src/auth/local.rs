//! The data directory's own signing key: `graphsec token` mints with it, `serve --auth local`
//! accepts exactly those tokens.
//!
//! The key is a 256-bit HMAC secret (HS256): the same process family signs and verifies, nothing
//! outside needs the public half, and verification costs about a microsecond.

use super::cache::{self, TokenCache};
use super::{AuthError, Claims, Principal};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

pub const ISSUER: &str = "graphsec-local";
/// Graph's resource URI and its application id; tokens for Graph carry one of them as `aud`.
pub const AUDIENCES: [&str; 2] = ["https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000"];
/// The key's file in the data directory.
pub const KEY_FILE: &str = "signing-key";
const KID: &str = "graphsec-local-1";
const LEEWAY_SECONDS: u64 = 30;
/// Distinct accepted tokens remembered (see `auth::cache`).
const TOKEN_CACHE_CAPACITY: usize = 4096;

pub struct LocalKey {
    secret: Vec<u8>,
    decoding: DecodingKey,
    validation: Validation,
    /// Tokens this key already accepted.
    verified: Mutex<TokenCache>,
}

impl LocalKey {
    /// Loads the key from the data directory, creating it (mode 0600) on first use.
    /// The key of a data directory `graphsec serve` made.
    pub fn load(data_dir: &Path) -> anyhow::Result<LocalKey> {
        crate::data_dir::require(data_dir, KEY_FILE)?;
        Self::load_or_create(data_dir)
    }

    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<LocalKey> {
        crate::data_dir::create(data_dir)?;
        let path = data_dir.join(KEY_FILE);
        let secret = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let secret: [u8; 32] = rand::random();
                let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
                write_private(&path, hex.as_bytes())?;
                hex.into_bytes()
            }
            Err(e) => return Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
        };
        if secret.len() < 32 {
            anyhow::bail!("{} is too short to be a signing key", path.display());
        }
        Self::from_secret(secret)
    }

    /// A key of this process alone, kept in memory (`serve --in-memory`): its tokens are valid
    /// until the process ends.
    pub fn in_memory() -> anyhow::Result<LocalKey> {
        let secret: [u8; 32] = rand::random();
        Self::from_secret(secret.iter().map(|b| format!("{b:02x}")).collect::<String>().into_bytes())
    }

    fn from_secret(secret: Vec<u8>) -> anyhow::Result<LocalKey> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&AUDIENCES);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS;
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let decoding = DecodingKey::from_secret(&secret)?;
        Ok(LocalKey {
            secret,
            decoding,
            validation,
            verified: Mutex::new(TokenCache::new(TOKEN_CACHE_CAPACITY, LEEWAY_SECONDS)),
        })
    }

    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let now = jsonwebtoken::get_current_timestamp();
        let digest = cache::digest(token);
        if let Some(principal) = self.cached(|c| c.get(&digest, now)) {
            return Ok(principal);
        }
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| AuthError("The access token is malformed.".into()))?;
        if header.alg != Algorithm::HS256 {
            return Err(AuthError("The token's signing algorithm is not accepted.".into()));
        }
        let data = jsonwebtoken::decode::<LocalClaims>(token, &self.decoding, &self.validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            AuthError(
                match e.kind() {
                    ErrorKind::ExpiredSignature => "Lifetime validation failed, the token is expired.",
                    ErrorKind::ImmatureSignature => "Lifetime validation failed, the token is not yet valid.",
                    ErrorKind::InvalidIssuer => "The token's issuer is not trusted.",
                    ErrorKind::InvalidAudience => "Invalid audience.",
                    ErrorKind::InvalidSignature => "The token's signature is invalid.",
                    _ => "The access token is invalid.",
                }
                .into(),
            )
        })?;
        // `exp` is a required claim, so a token that got here has one.
        let exp = data.claims.claims.exp.unwrap_or(0);
        let mut principal = data.claims.claims.into_principal()?;
        principal.admin = data.claims.admin;
        self.cached(|c| c.insert(digest, principal.clone(), exp, now));
        Ok(principal)
    }

    fn cached<T>(&self, f: impl FnOnce(&mut TokenCache) -> T) -> T {
        f(&mut self.verified.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub fn mint(&self, request: &TokenRequest) -> anyhow::Result<String> {
        let now = jsonwebtoken::get_current_timestamp();
        let permissions = request.permissions.clone();
        let claims = MintedClaims {
            iss: ISSUER,
            aud: AUDIENCES[0],
            tid: &request.tenant,
            sub: &request.subject,
            oid: (!request.app).then_some(request.subject.as_str()),
            appid: request.app.then_some(request.subject.as_str()),
            iat: now,
            nbf: now,
            exp: now + request.ttl_seconds,
            scp: (!request.app).then(|| permissions.join(" ")),
            roles: request.app.then_some(permissions),
            admin: request.admin,
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(KID.into());
        Ok(jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&self.secret)?)?)
    }
}

pub struct TokenRequest {
    pub tenant: String,
    pub permissions: Vec<String>,
    /// Application token (`roles`) instead of delegated (`scp`).
    pub app: bool,
    pub subject: String,
    pub ttl_seconds: u64,
    /// May use the test-control API (`/_graphsec/`).
    pub admin: bool,
}

/// A local token's claims: Entra ID's, and graphsec's own `graphsec_admin` (`graphsec token
/// --admin`), which is read from tokens of this key only, so that no external issuer can grant it.
#[derive(Deserialize)]
struct LocalClaims {
    #[serde(flatten)]
    claims: Claims,
    #[serde(default, rename = "graphsec_admin")]
    admin: bool,
}

#[derive(Serialize)]
struct MintedClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    tid: &'a str,
    sub: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    oid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    appid: Option<&'a str>,
    iat: u64,
    nbf: u64,
    exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    scp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    roles: Option<Vec<String>>,
    #[serde(rename = "graphsec_admin", skip_serializing_if = "std::ops::Not::not")]
    admin: bool,
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(app: bool, ttl: u64) -> TokenRequest {
        TokenRequest {
            tenant: "t1".into(),
            permissions: vec![super::super::READ_WRITE_ALL.into()],
            app,
            subject: "me".into(),
            ttl_seconds: ttl,
            admin: false,
        }
    }

    #[test]
    fn minted_tokens_verify_and_carry_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let key = LocalKey::load_or_create(dir.path()).unwrap();
        for app in [false, true] {
            let principal = key.verify(&key.mint(&request(app, 60)).unwrap()).unwrap();
            assert_eq!(principal.tenant.as_deref(), Some("t1"));
            assert!(principal.can_write);
            assert!(!principal.admin);
        }
        let admin = key.verify(&key.mint(&TokenRequest { admin: true, ..request(false, 60) }).unwrap()).unwrap();
        assert!(admin.admin);
        // The same directory gives the same key.
        let again = LocalKey::load_or_create(dir.path()).unwrap();
        assert!(again.verify(&key.mint(&request(false, 60)).unwrap()).is_ok());
    }

    #[test]
    fn another_key_is_refused() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let key_a = LocalKey::load_or_create(a.path()).unwrap();
        let key_b = LocalKey::load_or_create(b.path()).unwrap();
        let err = key_b.verify(&key_a.mint(&request(false, 60)).unwrap()).unwrap_err();
        assert!(err.0.contains("signature"));
    }

    #[test]
    fn a_verified_token_does_not_vouch_for_an_altered_copy() {
        let dir = tempfile::tempdir().unwrap();
        let key = LocalKey::load_or_create(dir.path()).unwrap();
        let token = key.mint(&request(false, 60)).unwrap();
        assert!(key.verify(&token).is_ok());
        let mut altered = token.clone();
        let last = altered.pop().unwrap();
        altered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(key.verify(&altered).is_err());
        assert!(key.verify(&token).is_ok(), "the cached token still verifies");
    }
}
