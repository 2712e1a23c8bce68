//! Host-side bindings of the `wirework:plugin@0.1.0` world.
//!
//! One module per supported WIT version: when the contract moves to 0.2.0,
//! a frozen copy of 0.1.0's WIT gets a module of its own beside this one and the
//! runtime keeps loading components built against it.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    imports: { default: async | trappable },
    exports: { default: async },
});
