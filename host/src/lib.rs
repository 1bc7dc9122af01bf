//! clambot: a personal AI agent that never runs model-written code on the host.
//!
//! Model-written JavaScript runs in a fresh QuickJS instance inside a WebAssembly
//! component ([`sandbox`]); every effect it can have is a call to a WIT import,
//! and every such call passes through the [`gate`] before anything happens.

pub mod atomic;
pub mod gate;
pub mod home;
pub mod policy;
pub mod sandbox;
pub mod size;
pub mod tools;

/// The guest component, built from `guest-quickjs/` and committed (see README).
pub const GUEST_COMPONENT: &[u8] = include_bytes!("../../guest-quickjs/dist/clambot-guest.wasm");
