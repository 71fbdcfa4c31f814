//! Adapters to AWS services, behind the ports of [`crate::deliver`]: [`sns`] publishes findings.

pub mod sns;
