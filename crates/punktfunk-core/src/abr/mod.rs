//! Rate and redundancy control as pure functions of receiver feedback.

mod bitrate;
mod fec_policy;

pub use bitrate::{BitrateConfig, next_bitrate};
pub use fec_policy::{FecPolicy, recommend_parity};
