//! Where frames come from. Until capture and encode land, the virtual test source.

mod virtual_source;

pub use virtual_source::VirtualSource;
