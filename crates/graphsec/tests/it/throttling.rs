//! SPEC section 8: a flood from one tenant is throttled while another tenant keeps being served.

use crate::support::*;
use graphsec::config::AuthChoice;
use reqwest::Method;

backend_tests!(a_flooding_tenant_gets_429_while_another_is_served);

async fn a_flooding_tenant_gets_429_while_another_is_served(backend: Backend) {
    let fixture = Fixture::new(backend);
    let mut config = fixture.config(AuthChoice::Local);
    config.rate_limit = Some(5);
    config.rate_limit_burst = Some(10);
    let server = TestServer::start_config(config).await;
    let flooder = server.token(TENANT_A, READ_WRITE);
    let bystander = server.token(TENANT_B, READ_WRITE);

    let mut throttled = 0;
    for _ in 0..40 {
        let response = server.request(Method::GET, COLLECTION, &flooder).send().await.unwrap();
        if response.status() == 429 {
            throttled += 1;
            let retry_after: u64 =
                response.headers()["retry-after"].to_str().unwrap().parse().expect("integer seconds");
            assert!(retry_after >= 1);
            let body = expect_error(response, 429, "TooManyRequests").await;
            assert_eq!(body["error"]["innerError"]["code"], "throttledRequest");
        } else {
            assert_eq!(response.status(), 200);
        }
    }
    assert!(throttled >= 25, "only {throttled} of 40 requests were throttled");
    for _ in 0..5 {
        let response = server.request(Method::GET, COLLECTION, &bystander).send().await.unwrap();
        assert_eq!(response.status(), 200, "another tenant must keep being served");
    }
}
