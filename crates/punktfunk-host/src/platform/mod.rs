//! The platform seams, each a small trait with backends chosen at run time by probing:
//! virtual displays ([`vdisplay`]), capture ([`capture`]), input injection ([`inject`]) and audio
//! nodes ([`audio`]). [`wayland`] holds the Wayland client helpers capture and inject share.
//!
//! Inside this layer dependencies run `vdisplay → capture, inject, audio → wayland`: a display
//! backend hands out where its frames come from and the input sink bound to it.

pub mod audio;
pub mod capture;
pub mod inject;
pub mod vdisplay;
pub mod wayland;
