//! The agent: LLM providers, and what front ends ask of it ([`turn`]).

pub mod provider;
pub mod turn;
