//! Refusals that name what does not fit: a component the engine cannot
//! compile or host, or whose imports the host does not provide, becomes a
//! typed error whose message says which need, which limit and which setting
//! raises it, with wasmtime's own error kept as the source.

use crate::error::{Error, ErrorKind};

/// The error for a component wasmtime refused to compile (or to accept into
/// the engine's pool).
pub(crate) fn compile_error(error: wasmtime::Error) -> Error {
    let reason = reason(&error);
    if let Some(message) = over_pool_budget(&reason) {
        return Error::new(ErrorKind::InstanceLimit, message).with_wasmtime(error);
    }
    let hint = if reason.contains("component model async") {
        if cfg!(feature = "component-model-async") {
            " (the component uses component-model async, which this engine does not enable: \
             EngineBuilder::component_model_async(true) hosts it; or build the component \
             without async exports and imports)"
        } else {
            " (the component uses component-model async, which this build of plugbox cannot \
             host: enable its `component-model-async` cargo feature; or build the component \
             without async exports and imports)"
        }
    } else {
        ""
    };
    Error::new(
        ErrorKind::InvalidComponent,
        format!("the component failed validation or compilation: {reason}{hint}"),
    )
    .with_wasmtime(error)
}

/// The error for a component whose imports the host's linker cannot satisfy:
/// the message names the import wasmtime could not find.
pub(crate) fn link_error(error: wasmtime::Error) -> Error {
    let reason = reason(&error);
    Error::new(
        ErrorKind::InterfaceMismatch,
        format!("the component's imports do not match what the host provides: {reason}"),
    )
    .with_wasmtime(error)
}

/// wasmtime's error and its causes on one line, outermost first.
fn reason(error: &wasmtime::Error) -> String {
    error
        .chain()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

/// The message for wasmtime's refusal of a component that needs more of the
/// pool than one instance may hold. wasmtime 48 reports it only as text
/// ("The component transitively contains 14 core module instances, which
/// exceeds the configured maximum of 4 in the pooling allocator"); the
/// wording is pinned by the budget tests.
fn over_pool_budget(reason: &str) -> Option<String> {
    let (_, rest) = reason.split_once("The component transitively contains ")?;
    let (needed, rest) = rest.split_once(' ')?;
    let (what, rest) = rest.split_once(", which exceeds the configured maximum of ")?;
    let (limit, _) = rest.split_once(' ')?;
    let (noun, setting) = match what {
        "core module instances" => ("core instances", "core_instances_per_instance"),
        "Wasm linear memories" => ("linear memories", "memories_per_instance"),
        "tables" => ("tables", "tables_per_instance"),
        _ => return None,
    };
    Some(format!(
        "the component needs {needed} {noun}, more than the {limit} this engine's pool allows \
         one instance (raise EngineBuilder::{setting})"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_budget_refusal_names_need_limit_and_setting() {
        let reason = "failed to compile: The component transitively contains 14 core module \
                      instances, which exceeds the configured maximum of 4 in the pooling \
                      allocator";
        assert_eq!(
            over_pool_budget(reason).unwrap(),
            "the component needs 14 core instances, more than the 4 this engine's pool \
             allows one instance (raise EngineBuilder::core_instances_per_instance)"
        );
        let memories = "The component transitively contains 2 Wasm linear memories, which \
                        exceeds the configured maximum of 1 in the pooling allocator";
        assert!(
            over_pool_budget(memories)
                .unwrap()
                .contains("2 linear memories, more than the 1")
        );
        assert_eq!(over_pool_budget("something else entirely"), None);
    }
}
