//! Host implementations of the WIT interfaces, one file per interface. Each is
//! reached only through the gate (`crate::gate`), never called directly.

pub mod log;
