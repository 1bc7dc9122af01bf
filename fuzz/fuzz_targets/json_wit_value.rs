//! JSON ↔ WIT value conversion for the types of every host function: converting
//! arbitrary JSON never panics, and a converted value converts back to JSON that
//! converts to the same value again.
#![no_main]

use std::sync::OnceLock;

use clambot::gate::value::{json_to_val, val_to_json};
use libfuzzer_sys::fuzz_target;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Type};

/// The parameter and result types of every function the guest imports.
fn types() -> &'static Vec<Type> {
    static TYPES: OnceLock<Vec<Type>> = OnceLock::new();
    TYPES.get_or_init(|| {
        let engine = wasmtime::Engine::default();
        let component = Component::new(&engine, clambot::GUEST_COMPONENT).expect("guest");
        let mut types = Vec::new();
        for (_, item) in component.component_type().imports(&engine) {
            let ComponentItem::ComponentInstance(instance) = item.ty else {
                continue;
            };
            for (_, export) in instance.exports(&engine) {
                if let ComponentItem::ComponentFunc(func) = export.ty {
                    types.extend(func.params().map(|(_, t)| t));
                    types.extend(func.results());
                }
            }
        }
        types
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(rest) else {
        return;
    };
    let types = types();
    let ty = &types[usize::from(selector) % types.len()];
    if let Ok(val) = json_to_val(ty, &json) {
        let back = val_to_json(&val);
        let again = json_to_val(ty, &back).expect("a converted value converts again");
        assert_eq!(val_to_json(&again), back, "the round trip is stable");
    }
});
