//! Integration tests: a real server over real sockets, driven the way a Graph client drives it.

mod auth;
mod concurrency;
mod crash;
mod crud;
mod errors;
mod listing;
mod support;
