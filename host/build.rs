//! Link arguments of the hookinit binary: packed relocations, the start-up code side by side,
//! no unwind tables in the dist profile. (The built-in plugins are embedded by
//! crates/plugin-host/build.rs.)

use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env("OUT_DIR"));
    let target = env("TARGET");
    // Relative relocations packed as RELR (glibc >= 2.36, musl >= 1.2.4, GNU ld >= 2.38): a
    // position-independent hookinit otherwise reads a table of tens of thousands of relocations
    // at every start (hundreds of KiB, each page a fault) before main. Measured in
    // docs/benchmarks.md; the start-up time and RSS of an init are its whole job.
    if target.contains("-linux-") {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
        // The functions every start runs, side by side at the front of the code (kept current by
        // link/refresh.sh, which CI runs; link/hot_text.py says how): the kernel maps code
        // 64 KiB at a time around each page it faults in, so scattered they made ~2 MB resident
        // for ~150 KB that runs.
        let script = manifest_dir.join("link/hot-text.ld");
        println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
        println!("cargo:rerun-if-changed={}", script.display());
        // The dist profile aborts on panic: nothing unwinds, so the unwind tables and their
        // index can go (link/no-unwind.ld). Cargo does not tell build scripts a profile's panic
        // strategy (CARGO_CFG_PANIC is the target's), so the profile is recognised by its
        // directory: target/TRIPLE/dist/build/PKG-HASH/out.
        let profile = out_dir.ancestors().nth(3).and_then(Path::file_name);
        if profile.is_some_and(|p| p == "dist") {
            let script = manifest_dir.join("link/no-unwind.ld");
            println!("cargo:rustc-link-arg-bins=-Wl,--no-eh-frame-hdr");
            println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
            println!("cargo:rerun-if-changed={}", script.display());
        }
        // Where each function landed, for link/hot_text.py: the map of the very build that
        // ships (an unstripped build is not the same code: the profile is in every symbol hash,
        // and LLVM's choices follow the names).
        if let Some(map) = std::env::var_os("HOOKINIT_LINK_MAP") {
            println!(
                "cargo:rustc-link-arg-bins=-Wl,-Map={}",
                Path::new(&map).display()
            );
        }
    }
    println!("cargo:rerun-if-env-changed=HOOKINIT_LINK_MAP");
    println!("cargo:rerun-if-changed=build.rs");
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}
