//! clambot: a personal AI agent that never runs model-written code on the host.
//!
//! Model-written JavaScript runs in a fresh QuickJS instance inside a WebAssembly
//! component ([`sandbox`]); every effect it can have is a call to a WIT import,
//! and every such call passes through the [`gate`] before anything happens.

pub mod agent;
pub mod atomic;
pub mod components;
pub mod gate;
pub mod gateway;
pub mod home;
pub mod html_text;
pub mod jobs;
pub mod mcp;
pub mod net;
pub mod policy;
pub mod sandbox;
pub mod schedule;
pub mod secrets;
pub mod size;
pub mod state;
pub mod store;
pub mod terminal;
pub mod tools;
pub mod unicode;
pub mod workspace;

/// The guest component, built from `guest-quickjs/` and committed (see README).
pub const GUEST_COMPONENT: &[u8] = include_bytes!("../../guest-quickjs/dist/clambot-guest.wasm");

/// SHA-256 of [`GUEST_COMPONENT`], hex, computed by the build script.
pub const GUEST_SHA256: &str = include!(concat!(env!("OUT_DIR"), "/guest_sha256.rs"));

/// SHA-256 of `bytes`, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
