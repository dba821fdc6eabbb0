//! The few operating-system calls the shared collect command needs that std
//! does not offer. This is the crate's only `unsafe` code; every block says
//! why it is sound.

mod allocate;
mod priority;
mod registry;
mod signals;

pub use allocate::allocate;
pub use priority::lower_priority;
pub use registry::{read_policy_key, RegistryValue};
pub use signals::on_interrupt;
