//! graphsec: a Microsoft Graph beta `userSecurityProfile` server.

pub mod api;
pub mod app;
pub mod auth;
pub mod backup;
pub mod config;
pub mod data_dir;
pub mod domain;
pub mod export;
pub mod generate;
pub mod import;
pub mod logging;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod tls;
