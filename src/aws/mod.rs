//! Adapters to AWS services, behind the ports of [`crate::deliver`]: [`sns`] publishes findings;
//! [`dynamodb`] keeps the suppression state and mutes every instance shares.

pub mod dynamodb;
pub mod sns;
