//! /images routes.

use axum::Router;
use berth_engine::Engine;

pub fn routes() -> Router<Engine> {
    Router::new()
}
