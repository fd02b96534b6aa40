use std::path::Path;
use std::process::Command;

fn main() {
    // tauri.conf.json lives at the repository root (DESIGN.md), not beside this crate.
    tauri_build::try_build(tauri_build::Attributes::new().config_path("../tauri.conf.json"))
        .expect("tauri build script");
    pack_relocations_in_release();
}

/// Release builds on Linux pack the binary's relative relocations (DT_RELR,
/// `-z pack-relative-relocs`): a position-independent binary of this size has
/// 2.4 MB of them, which the dynamic loader reads at every start and which
/// then stay mapped while the app idles (issue "Everyday use": idle memory).
/// Packed, they are a few kilobytes. Only where the linker and the C library
/// (glibc 2.36 or newer) both support it — checked by linking and running a
/// small program with the flag — so an older system still builds.
fn pack_relocations_in_release() {
    println!("cargo:rerun-if-changed=build.rs");
    let release = std::env::var("PROFILE").as_deref() == Ok("release");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    if !release || !linux {
        return;
    }
    const FLAG: &str = "-Wl,-z,pack-relative-relocs";
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let source = Path::new(&out).join("relr_check.c");
    let program = Path::new(&out).join("relr_check");
    if std::fs::write(&source, "int main(void) { return 0; }\n").is_err() {
        return;
    }
    let linked = Command::new("cc")
        .args(["-pie", "-fPIE", FLAG])
        .arg(&source)
        .arg("-o")
        .arg(&program)
        .status()
        .is_ok_and(|status| status.success());
    let runs = linked
        && Command::new(&program)
            .status()
            .is_ok_and(|status| status.success());
    if runs {
        println!("cargo:rustc-link-arg={FLAG}");
    } else {
        println!("cargo:warning=relative relocations are not packed: the linker or the C library does not support {FLAG}");
    }
}
