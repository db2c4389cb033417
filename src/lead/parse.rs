//! The strict parser behind [`super::parse_lead`].
use super::{Lead, Rejection};

pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 256 * 1024;
pub const MAX_DEPTH: usize = 64;

/// Parses and validates one message body. Never panics, whatever the bytes.
pub fn parse_lead(_body: &[u8], _max_bytes: usize) -> Result<Lead, Rejection> {
    todo!("implemented by the lead parser")
}
