//! Procedural macros for distob.
