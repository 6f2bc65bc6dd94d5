//! Randomness: fresh, or a generator seeded from the policy for replayable
//! calls (every instance starts from the same seed).

use rand::SeedableRng as _;
use rand::rngs::StdRng;
use wasmtime_wasi::WasiCtxBuilder;

use crate::error::Result;
use crate::policy::{Policy, RandomMode};

#[derive(Debug)]
pub(super) struct Grant {
    seed: Option<u64>,
}

impl Grant {
    pub(super) fn configure(policy: &Policy) -> Result<Self> {
        Ok(Self {
            seed: match policy.random.mode {
                RandomMode::Real => None,
                RandomMode::Seeded => Some(policy.random.seed),
            },
        })
    }

    pub(super) fn grant(&self, builder: &mut WasiCtxBuilder) {
        if let Some(seed) = self.seed {
            // Distinct streams for the secure and insecure sources, both
            // derived from the one seed.
            builder
                .secure_random(StdRng::seed_from_u64(seed))
                .insecure_random(StdRng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15))
                .insecure_random_seed(u128::from(seed));
        }
    }
}
