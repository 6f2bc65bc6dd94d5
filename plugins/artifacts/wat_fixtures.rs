//! The hand-written fixtures of `plugins/hostile-wat`: each `.wat` core
//! module is parsed and, as its first line asks, embedded with a WIT world
//! and turned into a component by `wit-component` (what `wasm-component-ld`
//! does for the Rust plugins), or kept a core module. Writes `wat.rs` into
//! `OUT_DIR`: one `Artifact` per fixture, `ALL`, and `foreach_wat_fixture!`.

use std::fmt::Write as _;
use std::path::Path;

use wit_component::{ComponentEncoder, StringEncoding};
use wit_parser::Resolve;

const DIRECTIVE: &str = ";; fixture: ";

/// Builds every fixture of `fixtures_dir` into `build_dir` and writes the
/// generated code to `out`.
pub fn build(workspace: &Path, fixtures_dir: &Path, build_dir: &Path, out: &Path) {
    let mut resolve = Resolve::default();
    resolve
        .push_dir(workspace.join("wit"))
        .expect("parse the plugbox WIT package");
    let fixtures_wit = fixtures_dir.join("fixtures.wit");
    let fixtures_package = resolve
        .push_file(&fixtures_wit)
        .unwrap_or_else(|error| panic!("parse {}: {error:?}", fixtures_wit.display()));

    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir)
        .expect("read plugins/hostile-wat")
        .map(|entry| entry.expect("read a plugins/hostile-wat entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "wat"))
        .map(|path| {
            let stem = path.file_stem().expect("a file name").to_str();
            stem.expect("UTF-8 fixture name").to_owned()
        })
        .collect();
    names.sort();
    std::fs::create_dir_all(build_dir).expect("create the fixtures' build directory");

    let mut code = String::new();
    let mut all = String::new();
    let mut foreach = String::new();
    for name in &names {
        let source = fixtures_dir.join(format!("{name}.wat"));
        let text = std::fs::read_to_string(&source).expect("read a fixture");
        let directive = text
            .lines()
            .next()
            .and_then(|line| line.strip_prefix(DIRECTIVE))
            .unwrap_or_else(|| panic!("{} must start with `{DIRECTIVE}`", source.display()));
        let mut module =
            wat::parse_str(&text).unwrap_or_else(|error| panic!("{}: {error}", source.display()));
        let bytes = match directive.split_once(' ') {
            None if directive == "core-module" => module,
            Some(("component", world)) => {
                let world = resolve
                    .select_world(&[fixtures_package], Some(world))
                    .unwrap_or_else(|error| panic!("{}: {error:?}", source.display()));
                wit_component::embed_component_metadata(
                    &mut module,
                    &resolve,
                    world,
                    StringEncoding::UTF8,
                )
                .expect("embed the world");
                ComponentEncoder::default()
                    .validate(true)
                    .module(&module)
                    .and_then(|encoder| encoder.encode())
                    .unwrap_or_else(|error| panic!("{}: {error:?}", source.display()))
            }
            _ => panic!("{}: unknown directive `{directive}`", source.display()),
        };
        let built = build_dir.join(format!("{name}.wasm"));
        std::fs::write(&built, bytes).expect("write a built fixture");

        let constant = name.to_uppercase().replace('-', "_");
        let path = built.display().to_string();
        writeln!(
            code,
            "/// `plugins/hostile-wat/{name}.wat`, built as its first line says.\n\
             pub const {constant}: crate::Artifact = crate::Artifact {{ name: {name:?}, \
             path: {path:?}, bytes: include_bytes!({path:?}), native: None }};",
        )
        .expect("write to String");
        write!(all, "{constant}, ").expect("write to String");
        writeln!(
            foreach,
            "        $mac!({}, {constant});",
            name.replace('-', "_")
        )
        .expect("write to String");
    }
    writeln!(
        code,
        "/// Every fixture, in name order.\npub const ALL: &[crate::Artifact] = &[{all}];"
    )
    .expect("write to String");
    writeln!(
        code,
        "/// Calls `$mac!(name, CONSTANT)` once per fixture, e.g. `$mac!(start_loop, START_LOOP)`.\n\
         #[macro_export]\n\
         macro_rules! foreach_wat_fixture {{\n    ($mac:ident) => {{\n{foreach}    }};\n}}"
    )
    .expect("write to String");
    std::fs::write(out, code).expect("write wat.rs");
}
