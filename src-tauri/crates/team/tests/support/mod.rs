//! What the team tests share: the moto clients and buckets of
//! `stageline_team::testing`, and the engine's seeded random source for
//! interleavings.

#![allow(dead_code)]

pub use stageline_team::testing::*;

#[allow(unused_imports)] // only the race test draws interleavings
pub use stageline_engine::testing::Rng as Random;
