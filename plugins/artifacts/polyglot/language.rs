//! The guest languages of the polyglot plugins: where their plugins and
//! author kits are, which files are their sources, and how each is named.

use std::path::Path;

/// A guest language and how its plugins are built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Python,
    JavaScript,
    /// JavaScript on QuickJS (componentize-qjs), whose default runtime uses
    /// component-model async built-ins.
    QuickJs,
    Go,
    C,
}

impl Language {
    pub const ALL: [Language; 5] = [
        Language::Python,
        Language::JavaScript,
        Language::QuickJs,
        Language::Go,
        Language::C,
    ];

    /// The directory prefix of its plugins under `plugins/`.
    pub fn prefix(self) -> &'static str {
        match self {
            Language::Python => "py-",
            Language::JavaScript => "js-",
            Language::QuickJs => "qjs-",
            Language::Go => "go-",
            Language::C => "c-",
        }
    }

    /// The name in `skipped: <language>: ...` lines and `guest-sdk/<name>`.
    pub fn name(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::JavaScript => "javascript",
            Language::QuickJs => "quickjs",
            Language::Go => "go",
            Language::C => "c",
        }
    }

    pub fn sdk_dir(self) -> &'static str {
        match self {
            Language::Python => "guest-sdk/python",
            Language::JavaScript => "guest-sdk/js",
            Language::QuickJs => "guest-sdk/quickjs",
            Language::Go => "guest-sdk/go",
            Language::C => "guest-sdk/c",
        }
    }

    /// Which source files of a plugin (and of its helpers) go into the
    /// component: only the language's own, so that a policy or a note next
    /// to the sources is not bundled.
    pub fn is_source(self, file: &Path) -> bool {
        let extension = file.extension().and_then(|extension| extension.to_str());
        match self {
            Language::Python => extension == Some("py"),
            Language::JavaScript | Language::QuickJs => extension == Some("js"),
            Language::Go => extension == Some("go") || file.ends_with("go.mod"),
            Language::C => extension == Some("c") || extension == Some("h"),
        }
    }

    /// The file every plugin of the language must have.
    pub fn entry(self) -> &'static str {
        match self {
            Language::Python => "app.py",
            Language::JavaScript | Language::QuickJs => "plugin.js",
            Language::Go => "main.go",
            Language::C => "main.c",
        }
    }

    pub fn variant(self) -> &'static str {
        match self {
            Language::Python => "Python",
            Language::JavaScript => "JavaScript",
            Language::QuickJs => "QuickJs",
            Language::Go => "Go",
            Language::C => "C",
        }
    }

    /// Whether its compiler writes a core module, made a component by
    /// `core_module::componentize`.
    pub fn writes_core_module(self) -> bool {
        matches!(self, Language::Go | Language::C)
    }
}
