//! The userSecurityProfile model and the rules around it; knows neither HTTP nor SQL.

pub mod datetime;
pub mod etag;
pub mod members;
pub mod profile;
pub mod skiptoken;
