//! nslab: guided Linux-networking workshops from Markdown lessons.
//!
//! The flow runs one way: Markdown -> [`lesson`] model -> [`engine`] (a policy per mode) ->
//! [`kernel`], the only door to netlink and namespaces.

#![forbid(unsafe_code)]

pub mod class;
pub mod cli;
pub mod diag;
pub mod engine;
pub mod exit;
pub mod kernel;
pub mod lesson;
pub mod modes;
pub mod net;
pub mod progress;
pub mod render;
pub mod show;
pub mod signals;
pub mod state;
pub mod term;
pub mod verify;
