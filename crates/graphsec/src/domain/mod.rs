//! The userSecurityProfile model and the rules around it; knows neither HTTP nor SQL.

pub mod audit;
pub mod datetime;
pub mod document;
pub mod etag;
pub mod members;
pub mod profile;
pub mod skiptoken;
pub mod write;
