//! HTTP pieces that the API and the console share, so neither imports the other: who is
//! asking ([`access`]) and live streams that resume ([`sse`]).

pub mod access;
pub mod sse;
