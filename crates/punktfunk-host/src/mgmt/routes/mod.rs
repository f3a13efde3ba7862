//! The API's routes, one file per concern. Each handler carries its OpenAPI description
//! (`#[utoipa::path]`), and the router is built from those same handlers, so the served routes and
//! the document cannot diverge.

pub mod auth;
pub mod browser;
pub mod capabilities;
pub mod devices;
pub mod events;
pub mod health;
pub mod library;
pub mod logs;
pub mod openapi;
pub mod pairing;
pub mod sessions;
pub mod settings;
pub mod stats;
pub mod status;
