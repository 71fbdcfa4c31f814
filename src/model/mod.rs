//! The contracts every stage speaks, at the bottom of the crate: the finding (DESIGN.md's
//! finding JSON), its severity and category, and the detail keys stages share. Nothing here
//! depends on any other module.

mod category;
pub mod details;
pub mod finding;

pub use category::{Category, Severity};
pub use finding::{Evidence, Finding};
