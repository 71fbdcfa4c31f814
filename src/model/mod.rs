//! The contracts every stage speaks, at the bottom of the crate: the finding (the finding
//! JSON of docs/finding.md), its severity and category, the detail keys stages share, and the AWS
//! partition of a region (for every ARN and console link). Nothing here depends on any other
//! module.

mod category;
pub mod details;
pub mod finding;
pub mod partition;

pub use category::{Category, Severity};
pub use finding::{Evidence, Finding};
pub use partition::{arn_partition, console_origin, partition};
