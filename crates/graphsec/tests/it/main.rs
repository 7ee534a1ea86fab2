#![allow(clippy::unwrap_used)]
//! Integration tests: a real server over real sockets, driven the way a Graph client drives it.
//! Each test in `backend_tests!` runs on SQLite on disk, on SQLite in memory (`--in-memory`), and
//! on PostgreSQL when `GRAPHSEC_TEST_POSTGRES` names a server (each run in a fresh schema);
//! without it the PostgreSQL runs are ignored. A test in `disk_backend_tests!` needs what only a
//! store that outlives the server has (a restart, a data directory for the other commands), and
//! does not run in memory.

/// Turns `async fn name(backend: Backend)` test bodies into `name::sqlite`, `name::memory` and
/// `name::postgres`.
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name(crate::support::Backend::Sqlite).await
                }

                #[tokio::test]
                async fn memory() {
                    super::$name(crate::support::Backend::Memory).await
                }

                #[tokio::test]
                #[cfg_attr(not(graphsec_test_postgres), ignore = "needs GRAPHSEC_TEST_POSTGRES")]
                async fn postgres() {
                    super::$name(crate::support::Backend::Postgres).await
                }
            }
        )*
    };
}

/// As `backend_tests!`, without the run in memory.
macro_rules! disk_backend_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name(crate::support::Backend::Sqlite).await
                }

                #[tokio::test]
                #[cfg_attr(not(graphsec_test_postgres), ignore = "needs GRAPHSEC_TEST_POSTGRES")]
                async fn postgres() {
                    super::$name(crate::support::Backend::Postgres).await
                }
            }
        )*
    };
}

mod audit;
mod auth;
mod batch;
mod budget;
mod cli;
mod compression;
mod concurrency;
mod console;
mod control;
mod cors;
mod crash;
mod crud;
mod emulator;
mod errors;
mod export;
mod external_issuer;
mod faults;
mod limits;
mod listing;
mod logs;
mod metrics;
mod multi_instance;
mod odata;
mod pg_faults;
mod pg_proxy;
mod power_loss;
mod public_url;
mod snapshots;
mod support;
mod throttling;
