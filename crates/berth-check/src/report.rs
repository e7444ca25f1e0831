//! Rendering findings (filled in below).
