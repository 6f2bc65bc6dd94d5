//! A readable description of a component's imports and exports, in WIT-like
//! notation: what `plugbox inspect` prints and what load errors name.
//!
//! The names come from the component, that is from its author: its
//! `Display` shows every name and signature escaped ([`safe_text`]). (The
//! component model's validation admits only kebab-case names and semver
//! versions, so a valid component has nothing to escape; this holds even if
//! that changes.)
//!
//! [`safe_text`]: crate::safe_text

use std::fmt;

use crate::safe_text::escape;

use wasmtime::component::types::Type;
use wasmtime::component::types::{self, ComponentItem};

/// A component's imports and exports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentInfo {
    /// What the component needs from its host, in declaration order.
    pub imports: Vec<Item>,
    /// What the component provides, in declaration order.
    pub exports: Vec<Item>,
}

/// One import or export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Its name, e.g. `plugbox:plugin/handler@0.1.0` or `wasi:cli/stdout@0.2.6`.
    pub name: String,
    /// What sort of item it is.
    pub kind: ItemKind,
    /// For a function: its signature. For an instance (an interface): one
    /// line per function it contains, `name: func(...) -> ...`.
    pub functions: Vec<Function>,
}

/// The sort of an [`Item`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ItemKind {
    /// An interface instance (a set of functions, types and resources).
    Instance,
    /// A single component function.
    Function,
    /// A core wasm module.
    Module,
    /// A nested component.
    Component,
    /// A type.
    Type,
    /// A resource type.
    Resource,
    /// A core wasm function.
    CoreFunction,
}

/// A function and its WIT signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    /// The function's name.
    pub name: String,
    /// The signature, e.g. `func(input: list<u8>) -> result<list<u8>, string>`.
    pub signature: String,
}

impl ComponentInfo {
    pub(crate) fn of(component: &wasmtime::component::Component) -> Self {
        let engine = component.engine();
        let ty = component.component_type();
        Self {
            imports: ty
                .imports(engine)
                .map(|(name, item)| Item::new(engine, name, &item.ty))
                .collect(),
            exports: ty
                .exports(engine)
                .map(|(name, item)| Item::new(engine, name, &item.ty))
                .collect(),
        }
    }

    /// The export called `name`, if any.
    pub fn export(&self, name: &str) -> Option<&Item> {
        self.exports.iter().find(|item| item.name == name)
    }
}

impl Item {
    fn new(engine: &wasmtime::Engine, name: &str, item: &ComponentItem) -> Self {
        let (kind, functions) = match item {
            ComponentItem::ComponentInstance(instance) => (
                ItemKind::Instance,
                instance
                    .exports(engine)
                    .filter_map(|(name, export)| match export.ty {
                        ComponentItem::ComponentFunc(func) => Some(Function {
                            name: name.to_string(),
                            signature: signature(&func),
                        }),
                        _ => None,
                    })
                    .collect(),
            ),
            ComponentItem::ComponentFunc(func) => (
                ItemKind::Function,
                vec![Function {
                    name: name.to_string(),
                    signature: signature(func),
                }],
            ),
            ComponentItem::CoreFunc(_) => (ItemKind::CoreFunction, Vec::new()),
            ComponentItem::Module(_) => (ItemKind::Module, Vec::new()),
            ComponentItem::Component(_) => (ItemKind::Component, Vec::new()),
            ComponentItem::Type(_) => (ItemKind::Type, Vec::new()),
            ComponentItem::Resource(_) => (ItemKind::Resource, Vec::new()),
        };
        Self {
            name: name.to_string(),
            kind,
            functions,
        }
    }
}

impl fmt::Display for ItemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Instance => "instance",
            Self::Function => "func",
            Self::Module => "core module",
            Self::Component => "component",
            Self::Type => "type",
            Self::Resource => "resource",
            Self::CoreFunction => "core func",
        })
    }
}

/// `func(a: t, ...) -> r` for a component function type.
pub(crate) fn signature(func: &types::ComponentFunc) -> String {
    let params: Vec<String> = func
        .params()
        .map(|(name, ty)| format!("{name}: {}", wit(&ty)))
        .collect();
    let results: Vec<String> = func.results().map(|ty| wit(&ty)).collect();
    let prefix = if func.async_() { "async func" } else { "func" };
    match results.as_slice() {
        [] => format!("{prefix}({})", params.join(", ")),
        [one] => format!("{prefix}({}) -> {one}", params.join(", ")),
        many => format!("{prefix}({}) -> ({})", params.join(", "), many.join(", ")),
    }
}

/// A type in WIT notation. Named types (records, variants, ...) are shown
/// structurally, since the type information carries no names for them.
pub(crate) fn wit(ty: &Type) -> String {
    match ty {
        Type::Bool => "bool".into(),
        Type::S8 => "s8".into(),
        Type::U8 => "u8".into(),
        Type::S16 => "s16".into(),
        Type::U16 => "u16".into(),
        Type::S32 => "s32".into(),
        Type::U32 => "u32".into(),
        Type::S64 => "s64".into(),
        Type::U64 => "u64".into(),
        Type::Float32 => "f32".into(),
        Type::Float64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        Type::ErrorContext => "error-context".into(),
        Type::List(list) => format!("list<{}>", wit(&list.ty())),
        Type::FixedLengthList(list) => format!("{list:?}"),
        Type::Map(map) => format!("map<{}, {}>", wit(&map.key()), wit(&map.value())),
        Type::Option(option) => format!("option<{}>", wit(&option.ty())),
        Type::Result(result) => match (result.ok(), result.err()) {
            (None, None) => "result".into(),
            (Some(ok), None) => format!("result<{}>", wit(&ok)),
            (None, Some(err)) => format!("result<_, {}>", wit(&err)),
            (Some(ok), Some(err)) => format!("result<{}, {}>", wit(&ok), wit(&err)),
        },
        Type::Tuple(tuple) => {
            let types: Vec<String> = tuple.types().map(|ty| wit(&ty)).collect();
            format!("tuple<{}>", types.join(", "))
        }
        Type::Record(record) => {
            let fields: Vec<String> = record
                .fields()
                .map(|field| format!("{}: {}", field.name, wit(&field.ty)))
                .collect();
            format!("record {{ {} }}", fields.join(", "))
        }
        Type::Variant(variant) => {
            let cases: Vec<String> = variant
                .cases()
                .map(|case| match case.ty {
                    Some(ty) => format!("{}({})", case.name, wit(&ty)),
                    None => case.name.to_string(),
                })
                .collect();
            format!("variant {{ {} }}", cases.join(", "))
        }
        Type::Enum(enumeration) => {
            let names: Vec<&str> = enumeration.names().collect();
            format!("enum {{ {} }}", names.join(", "))
        }
        Type::Flags(flags) => {
            let names: Vec<&str> = flags.names().collect();
            format!("flags {{ {} }}", names.join(", "))
        }
        Type::Own(_) => "own<resource>".into(),
        Type::Borrow(_) => "borrow<resource>".into(),
        Type::Future(_) => "future".into(),
        Type::Stream(_) => "stream".into(),
    }
}

impl fmt::Display for ComponentInfo {
    /// One line per import/export, functions indented below their
    /// interface; names and signatures escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (heading, items) in [("imports", &self.imports), ("exports", &self.exports)] {
            writeln!(
                f,
                "{heading}: {}",
                if items.is_empty() { "(none)" } else { "" }
            )?;
            for item in items {
                match item.kind {
                    ItemKind::Function => {
                        for function in &item.functions {
                            let (name, signature) =
                                (escape(&item.name), escape(&function.signature));
                            writeln!(f, "  {name}: {signature}")?;
                        }
                    }
                    kind => {
                        writeln!(f, "  {} ({kind})", escape(&item.name))?;
                        for function in &item.functions {
                            let (name, signature) =
                                (escape(&function.name), escape(&function.signature));
                            writeln!(f, "    {name}: {signature}")?;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_escapes_the_components_own_names() {
        let function = |name: &str, signature: &str| Function {
            name: name.into(),
            signature: signature.into(),
        };
        let info = ComponentInfo {
            imports: vec![Item {
                name: "evil:\x1b[2J/iface\n  forged (instance)".into(),
                kind: ItemKind::Instance,
                functions: vec![function("f\u{202e}gnp", "func(x\r: string)")],
            }],
            exports: vec![Item {
                name: "run\x07".into(),
                kind: ItemKind::Function,
                functions: vec![function("run\x07", "func() -> \u{9b}31m")],
            }],
        };
        let shown = info.to_string();
        assert_eq!(
            shown,
            "imports: \n  evil:\\x1b[2J/iface\\n  forged (instance) (instance)\n    \
             f\\u{202e}gnp: func(x\\r: string)\nexports: \n  run\\x07: func() -> \\u{9b}31m\n"
        );
        // Five lines of ours, nothing raw in them.
        assert_eq!(shown.lines().count(), 5);
        assert!(
            !shown
                .chars()
                .any(|c| c != '\n' && crate::safe_text::is_escaped(c))
        );
    }
}
