//! Delivery: the [`publish::Publisher`] port the handler publishes through (stdout here, SNS
//! in [`crate::aws`]), and the [`suppress`]ion of repeats before anything is sent.

pub mod publish;
pub mod suppress;
