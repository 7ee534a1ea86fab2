//! Tokens from a configured external issuer (Entra ID shape, ES256, JWKS file) are accepted
//! beside the local key, through the real `graphsec serve` flags.

use crate::support::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const ISSUER: &str = "https://login.microsoftonline.com/aaaaaaaa-0000-0000-0000-00000000000a/v2.0";
const AUDIENCE: &str = "api://graphsec-test";

struct Signer {
    encoding: EncodingKey,
    jwk: Value,
}

fn signer(kid: &str) -> Signer {
    use p256::pkcs8::EncodePrivateKey;
    let secret = p256::SecretKey::from_slice(&rand::random::<[u8; 32]>()).unwrap();
    let der = secret.to_pkcs8_der().unwrap();
    let point = secret.public_key().to_sec1_bytes();
    Signer {
        encoding: EncodingKey::from_ec_der(der.as_bytes()),
        jwk: json!({"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256",
                    "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..])}),
    }
}

fn sign(signer: &Signer, kid: &str, claims: Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, &claims, &signer.encoding).unwrap()
}

fn claims(aud: &str, roles: &[&str]) -> Value {
    let now = jsonwebtoken::get_current_timestamp();
    json!({"iss": ISSUER, "aud": aud, "tid": TENANT_A, "azp": "client-app", "oid": "user-1", "roles": roles,
           "iat": now, "nbf": now - 5, "exp": now + 600, "ver": "2.0"})
}

#[tokio::test]
async fn entra_style_tokens_from_a_configured_issuer_are_accepted_beside_local_ones() {
    let fixture = Fixture::new(Backend::Sqlite);
    let trusted = signer("kid-1");
    let stranger = signer("kid-1");
    let jwks_path = fixture.temp.path().join("jwks.json");
    std::fs::write(&jwks_path, json!({"keys": [trusted.jwk]}).to_string()).unwrap();
    let port = free_port();
    let data_dir = fixture.temp.path().display().to_string();
    let jwks = jwks_path.display().to_string();
    let mut child = start_binary(
        port,
        &["--data-dir", &data_dir, "--issuer", ISSUER, "--audience", AUDIENCE, "--jwks-file", &jwks],
    );
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    wait_ready(&client, &base).await;
    let url = format!("{base}{COLLECTION}");

    let writer = sign(&trusted, "kid-1", claims(AUDIENCE, &[READ_WRITE]));
    let response = client.post(&url).bearer_auth(&writer).json(&json!({"id": "ext"})).send().await.unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.json::<Value>().await.unwrap()["azureTenantId"], TENANT_A);

    let reader = sign(&trusted, "kid-1", claims(AUDIENCE, &[READ]));
    assert_eq!(client.get(&url).bearer_auth(&reader).send().await.unwrap().status(), 200);
    assert_eq!(client.post(&url).bearer_auth(&reader).json(&json!({})).send().await.unwrap().status(), 403);

    for (name, token) in [
        ("wrong audience", sign(&trusted, "kid-1", claims("api://other", &[READ_WRITE]))),
        ("signed by another key", sign(&stranger, "kid-1", claims(AUDIENCE, &[READ_WRITE]))),
        ("unknown kid", sign(&trusted, "kid-9", claims(AUDIENCE, &[READ_WRITE]))),
    ] {
        let response = client.get(&url).bearer_auth(&token).send().await.unwrap();
        assert_eq!(response.status(), 401, "{name}");
    }
    // The local key keeps working beside the external issuer.
    let local = mint(fixture.temp.path(), TENANT_A, READ, false);
    let list: Value = client.get(&url).bearer_auth(&local).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["value"][0]["id"], "ext");

    // The test-control API is for admin tokens of the local key: an external issuer cannot
    // grant graphsec's admin claim.
    let mut claims = claims(AUDIENCE, &[READ_WRITE]);
    claims["graphsec_admin"] = json!(true);
    let external_admin = sign(&trusted, "kid-1", claims);
    let reset = client.post(format!("{base}/_graphsec/reset")).bearer_auth(&external_admin).send().await.unwrap();
    expect_error(reset, 403, "Forbidden").await;
    let list: Value = client.get(&url).bearer_auth(&local).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["value"][0]["id"], "ext", "nothing was reset");
    child.kill().unwrap();
    child.wait().unwrap();
}
