//! Holds nothing: this package exists for its end-to-end tests in `it/`.
