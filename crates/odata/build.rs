//! Tests that need PostgreSQL are compiled as ignored unless `GRAPHSEC_TEST_POSTGRES` names a
//! server, so a run without one reports them as ignored rather than as passed.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(graphsec_test_postgres)");
    println!("cargo::rerun-if-env-changed=GRAPHSEC_TEST_POSTGRES");
    if std::env::var("GRAPHSEC_TEST_POSTGRES").is_ok_and(|url| !url.is_empty()) {
        println!("cargo::rustc-cfg=graphsec_test_postgres");
    }
}
