//! The HTTP edge shared by every feature: the error type and the only place that knows status
//! codes ([`error`]), who is asking ([`auth`]: sessions, CSRF, the extractors that check role and
//! client scope), the security headers and same-origin check ([`headers`]), page rendering and the
//! login pages ([`pages`]), the signed links of URLs that work without a login or for minutes only
//! ([`signed`]), and the API's session endpoints with the merged OpenAPI document
//! ([`api`]).

pub mod api;
pub mod auth;
pub mod error;
pub mod headers;
pub mod pages;
pub mod signed;
pub mod words;
