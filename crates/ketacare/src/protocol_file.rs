//! Loading the site protocol for a command: the file named by `--protocol`, else the shipped one.

use std::path::Path;

use anyhow::Context as _;
use ketacare_core::protocol::Protocol;

/// Reads and validates the protocol at `path`, or returns the shipped protocol when `path` is `None`.
pub fn load_protocol(path: Option<&Path>) -> anyhow::Result<Protocol> {
    match path {
        None => Ok(Protocol::shipped()),
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading protocol {}", path.display()))?;
            Protocol::parse(&text).with_context(|| format!("protocol {} is invalid", path.display()))
        }
    }
}
