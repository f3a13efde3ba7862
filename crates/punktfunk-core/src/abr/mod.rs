//! Rate and redundancy control as pure functions of receiver feedback.

mod bitrate;
mod fec_policy;

pub use bitrate::{BitrateConfig, BitrateController};
pub use fec_policy::{FecPolicy, recommend_parity};
