//! The clambot sandbox guest: QuickJS (through Javy's runtime crate) compiled to a
//! WebAssembly component that implements the `sandbox` world in `wit/`.
//!
//! This crate is the only code in clambot that runs untrusted JavaScript. It can do
//! nothing to the world by itself: every effect is a call to a WIT import, and the
//! host gates every such call. The QuickJS runtime and the JS prelude are created in
//! [`initialize`], which the build pre-initialises (wizer) into the component's
//! memory snapshot, so a fresh instance starts with them ready.

mod api;
mod bytecode;
mod environment;
mod pending;
mod prelude;
mod script;
mod syntax;
mod wire;

wit_bindgen::generate!({
    world: "sandbox",
    path: "../wit",
});

struct Sandbox;

impl Guest for Sandbox {
    fn run(source: String, args_json: String) -> Result<String, ScriptError> {
        script::run(&source, &args_json)
    }

    fn compile(source: String) -> Result<Vec<u8>, ScriptError> {
        script::compile(&source)
    }

    fn run_compiled(bytecode: Vec<u8>, args_json: String) -> Result<String, ScriptError> {
        script::run_compiled(&bytecode, &args_json)
    }

    fn check_syntax(source: String, module: bool) -> Result<(), ScriptError> {
        script::check_syntax(&source, module)
    }
}

export!(Sandbox);

/// Builds the QuickJS runtime and installs the prelude. Called once by the build's
/// pre-initialisation step; the resulting memory is the component's starting state.
#[unsafe(export_name = "wizer-initialize")]
pub extern "C" fn initialize() {
    script::initialize();
}
