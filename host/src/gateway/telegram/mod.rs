//! Telegram: the Bot API client, formatting, and the bot loop.

pub mod api;
pub mod bot;
pub mod format;
