//! Apps the host starts on a session's display: the process runner both protocols share
//! ([`RunningApp`]) and the one launched library title a punktfunk/1 session may have
//! ([`SessionApp`]).

mod followed;
mod runner;
mod session_app;

pub use runner::{AppOwner, RunningApp};
pub use session_app::{AppEvent, Notify, SessionApp};
