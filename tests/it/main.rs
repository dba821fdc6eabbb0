//! End-to-end tests of the sealbag binaries.
