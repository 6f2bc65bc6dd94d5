//! Environment variables and arguments: exactly the policy's, nothing
//! inherited unless named.

use wasmtime_wasi::WasiCtxBuilder;

use crate::error::Result;
use crate::policy::Policy;

#[derive(Debug)]
pub(super) struct Grant {
    vars: Vec<(String, String)>,
    args: Vec<String>,
}

impl Grant {
    /// Resolves `inherit` against the host environment now, once.
    pub(super) fn configure(policy: &Policy) -> Result<Self> {
        let mut vars: Vec<(String, String)> = policy
            .env
            .vars
            .iter()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        for name in &policy.env.inherit {
            if let Ok(value) = std::env::var(name) {
                vars.push((name.clone(), value));
            }
        }
        Ok(Self {
            vars,
            args: policy.args.values.clone(),
        })
    }

    pub(super) fn grant(&self, builder: &mut WasiCtxBuilder) {
        builder.envs(&self.vars).args(&self.args);
    }
}
