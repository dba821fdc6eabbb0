//! sealbag's Windows collector.
