//! Does a component fit the plugbox world? The check behind
//! [`Plugin::new`](crate::Plugin::new) and `plugbox inspect`, with errors that
//! name exactly what is missing, mistyped or unsatisfiable.

use crate::describe::{ComponentInfo, ItemKind};
use crate::error::{Error, ErrorKind, Result};

/// The WIT world plugbox plugins target (`wit/plugin.wit`).
pub const WORLD: &str = "plugbox:plugin/plugin@0.1.0";
/// The interface a plugin must export.
pub const HANDLER_INTERFACE: &str = "plugbox:plugin/handler@0.1.0";
/// The function of [`HANDLER_INTERFACE`] the host calls.
pub const HANDLE_FUNCTION: &str = "handle";
/// Its signature.
pub const HANDLE_SIGNATURE: &str = "func(input: list<u8>) -> result<list<u8>, string>";

/// The host interfaces of the plugbox world a plugin may import.
pub const HOST_INTERFACES: [&str; 3] = [
    "plugbox:plugin/log@0.1.0",
    "plugbox:plugin/config@0.1.0",
    "plugbox:plugin/kv@0.1.0",
];

/// Whether an import name belongs to WASI (`wasi:<package>/<interface>`).
pub(crate) fn is_wasi_import(name: &str) -> bool {
    name.starts_with("wasi:")
}

/// How a component relates to the plugbox world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorldFit {
    /// Whether it imports any WASI interface (and so gets a WASI context).
    pub imports_wasi: bool,
}

impl ComponentInfo {
    /// Checks this component against the plugbox world.
    ///
    /// `wasi_available` says whether the host links WASI (the `wasi` cargo
    /// feature).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InterfaceMismatch`] naming the missing or mistyped export,
    /// or the first import the host cannot provide.
    pub fn check_plugbox_world(&self, wasi_available: bool) -> Result<WorldFit> {
        let Some(handler) = self.export(HANDLER_INTERFACE) else {
            let found: Vec<&str> = self.exports.iter().map(|item| item.name.as_str()).collect();
            return Err(Error::new(
                ErrorKind::InterfaceMismatch,
                format!(
                    "missing export `{HANDLER_INTERFACE}` (the plugbox world `{WORLD}`); \
                     the component exports {}",
                    listing(&found)
                ),
            ));
        };
        if handler.kind != ItemKind::Instance {
            return Err(Error::new(
                ErrorKind::InterfaceMismatch,
                format!(
                    "export `{HANDLER_INTERFACE}` is a {}, expected an interface instance",
                    handler.kind
                ),
            ));
        }
        let Some(handle) = handler
            .functions
            .iter()
            .find(|function| function.name == HANDLE_FUNCTION)
        else {
            return Err(Error::new(
                ErrorKind::InterfaceMismatch,
                format!("export `{HANDLER_INTERFACE}` has no function `{HANDLE_FUNCTION}`"),
            ));
        };
        if without_names(&handle.signature) != without_names(HANDLE_SIGNATURE) {
            return Err(Error::new(
                ErrorKind::InterfaceMismatch,
                format!(
                    "export `{HANDLER_INTERFACE}#{HANDLE_FUNCTION}` has type `{}`, expected `{HANDLE_SIGNATURE}`",
                    handle.signature
                ),
            ));
        }

        let mut imports_wasi = false;
        for import in &self.imports {
            if HOST_INTERFACES.contains(&import.name.as_str()) {
                continue;
            }
            if is_wasi_import(&import.name) {
                if !wasi_available {
                    return Err(Error::new(
                        ErrorKind::InterfaceMismatch,
                        format!(
                            "import `{}` needs WASI, which this host was built without \
                             (enable plugbox's `wasi` feature)",
                            import.name
                        ),
                    ));
                }
                imports_wasi = true;
            } else {
                return Err(Error::new(
                    ErrorKind::InterfaceMismatch,
                    format!(
                        "import `{}` is not provided by the host (plugbox provides its \
                         log, config and kv interfaces and WASI preview 2)",
                        import.name
                    ),
                ));
            }
        }
        Ok(WorldFit { imports_wasi })
    }
}

/// A signature with parameter names dropped: names are not part of the ABI.
fn without_names(signature: &str) -> String {
    let Some((params, rest)) = signature
        .strip_prefix("func(")
        .and_then(|tail| tail.split_once(')'))
    else {
        return signature.to_string();
    };
    let types: Vec<&str> = params
        .split(", ")
        .map(|param| param.split_once(": ").map_or(param, |(_, ty)| ty))
        .collect();
    format!("func({}){rest}", types.join(", "))
}

fn listing(names: &[&str]) -> String {
    if names.is_empty() {
        "nothing".to_string()
    } else {
        names
            .iter()
            .map(|name| format!("`{name}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_names_do_not_matter() {
        assert_eq!(
            without_names("func(bytes: list<u8>) -> result<list<u8>, string>"),
            without_names(HANDLE_SIGNATURE)
        );
        assert_ne!(
            without_names("func(input: string) -> result<list<u8>, string>"),
            without_names(HANDLE_SIGNATURE)
        );
    }
}
