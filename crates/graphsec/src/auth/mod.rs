//! Who is calling: bearer-token verification, permissions and the caller's tenant (docs/auth-and-tenancy.md).

pub mod cache;
pub mod external;
mod jwks;
pub mod local;

use crate::store::Scope;
use serde::Deserialize;

pub const READ_ALL: &str = "SecurityEvents.Read.All";
pub const READ_WRITE_ALL: &str = "SecurityEvents.ReadWrite.All";

/// The verified caller of one request.
#[derive(Debug, Clone)]
pub struct Principal {
    /// `None` with `--auth off`: the caller sees every tenant.
    pub tenant: Option<String>,
    pub can_read: bool,
    pub can_write: bool,
    /// `oid`, `appid`/`azp` or `sub`, for logs and the audit trail.
    pub caller: String,
    /// The client application (`appid`/`azp`, else `sub`): throttling buckets are per tenant and app.
    pub app: String,
    /// May use the test-control API: a local token minted with `--admin` (never an external
    /// issuer's), or anyone with `--auth off`.
    pub admin: bool,
}

impl Principal {
    pub fn unauthenticated_emulator() -> Principal {
        Principal {
            tenant: None,
            can_read: true,
            can_write: true,
            caller: "anonymous".into(),
            app: "anonymous".into(),
            admin: true,
        }
    }

    pub fn scope(&self) -> Scope {
        match &self.tenant {
            Some(t) => Scope::Tenant(t.clone()),
            None => Scope::AllTenants,
        }
    }
}

/// Why a token was refused; the message goes to the client, so it names no secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AuthError(pub String);

/// The claims graphsec reads from an Entra-ID-shaped access token.
#[derive(Debug, Deserialize)]
pub struct Claims {
    pub tid: Option<String>,
    #[serde(default)]
    pub scp: Option<String>,
    #[serde(default)]
    pub roles: Option<Vec<String>>,
    pub oid: Option<String>,
    pub appid: Option<String>,
    pub azp: Option<String>,
    pub sub: Option<String>,
    /// Expiry, seconds since the epoch (required of local tokens).
    #[serde(default)]
    pub exp: Option<u64>,
}

impl Claims {
    pub fn into_principal(self) -> Result<Principal, AuthError> {
        let tenant =
            self.tid.filter(|t| !t.is_empty()).ok_or_else(|| AuthError("The token has no 'tid' claim.".into()))?;
        let mut permissions: Vec<&str> = self.scp.as_deref().map(|s| s.split(' ').collect()).unwrap_or_default();
        if let Some(roles) = &self.roles {
            permissions.extend(roles.iter().map(String::as_str));
        }
        let can_write = permissions.contains(&READ_WRITE_ALL);
        let can_read = can_write || permissions.contains(&READ_ALL);
        let app = self.appid.or(self.azp).or_else(|| self.sub.clone()).unwrap_or_else(|| "unknown".into());
        let caller = self.oid.or(self.sub).unwrap_or_else(|| app.clone());
        Ok(Principal { tenant: Some(tenant), can_read, can_write, caller, app, admin: false })
    }
}

/// Extracts the token from an `Authorization` header value.
pub fn bearer_token(header: Option<&str>) -> Result<&str, AuthError> {
    let header = header.ok_or_else(|| AuthError("Access token is empty.".into()))?;
    let (scheme, token) =
        header.split_once(' ').ok_or_else(|| AuthError("Authorization header is not a bearer token.".into()))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AuthError("Authorization header is not a bearer token.".into()));
    }
    Ok(token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(scp: Option<&str>, roles: Option<Vec<&str>>) -> Claims {
        Claims {
            tid: Some("t1".into()),
            scp: scp.map(String::from),
            roles: roles.map(|r| r.into_iter().map(String::from).collect()),
            oid: None,
            appid: Some("app".into()),
            azp: None,
            sub: Some("s".into()),
            exp: None,
        }
    }

    #[test]
    fn permissions_from_scp_and_roles() {
        let p = claims(Some("User.Read SecurityEvents.Read.All"), None).into_principal().unwrap();
        assert!(p.can_read && !p.can_write);
        let p = claims(None, Some(vec![READ_WRITE_ALL])).into_principal().unwrap();
        assert!(p.can_read && p.can_write);
        let p = claims(Some("User.Read"), None).into_principal().unwrap();
        assert!(!p.can_read && !p.can_write);
        assert_eq!(p.app, "app");
        assert_eq!(p.caller, "s");
    }

    #[test]
    fn tenant_is_required() {
        let mut c = claims(Some(READ_ALL), None);
        c.tid = None;
        assert!(c.into_principal().is_err());
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer_token(Some("Bearer abc")).unwrap(), "abc");
        assert_eq!(bearer_token(Some("bearer abc")).unwrap(), "abc");
        assert!(bearer_token(None).is_err());
        assert!(bearer_token(Some("Basic abc")).is_err());
        assert!(bearer_token(Some("Bearer ")).is_err());
        assert!(bearer_token(Some("Bearer")).is_err());
    }
}
