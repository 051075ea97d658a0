//! Signals: which ones PID 1 takes over, how they are rewritten, where they are forwarded.

pub mod forward;
pub mod names;
pub mod takeover;
