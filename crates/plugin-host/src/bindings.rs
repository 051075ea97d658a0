//! Host-side bindings generated from `wit/hookinit.wit` (sync imports and exports).

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "plugin",
});

pub use self::hookinit::plugin::types as wit;

/// The WIT package this host implements (`hookinit:plugin@VERSION`). A component built against
/// another 0.x minor or another major version is refused with a line naming both.
pub const WIT_PACKAGE: &str = "hookinit:plugin";
pub const WIT_VERSION: &str = "0.1.0";
