//! Reporting: what leaves the function, in words (every excerpt already passed through
//! [`crate::redact`]); [`render`] writes a finding as text, email, a Chatbot card and the SNS message;
//! [`catalog_doc`] writes the rule catalog as tables (RULES.md, `troubleshooter rules`);
//! [`metrics`] writes what an invocation counted as Embedded Metric Format documents.

pub mod catalog_doc;
pub mod metrics;
pub mod render;
