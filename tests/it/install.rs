//! The command line installs the way the README says (`cargo install --path .`, here the
//! scanner's variant the README gives beside `make install`), and the installed
//! `troubleshooter` scans a saved event by that name alone.
//!
//! The install builds the scanner's features (`--no-default-features --features cli`, no AWS
//! SDK) in the debug profile, in a target folder of its own beside this build's (`cargo
//! install` copies its binary into `<target>/debug/`: in this build's own folder it would
//! replace the `troubleshooter` the other tests run with one without `pull`); the root it
//! installs into is a temporary folder, and it adds nothing to the user's `~/.cargo`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A target folder for the install, beside this build's (`<target>/debug/` holds the binary
/// under test).
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_troubleshooter")).parent().and_then(Path::parent).unwrap().join("install-check")
}

#[test]
fn cargo_install_puts_troubleshooter_on_the_path_and_it_scans() {
    let root = std::env::temp_dir().join(format!("troubleshooter-install-{}", std::process::id()));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let install = Command::new(cargo)
        .args(["install", "--locked", "--offline", "--debug", "--path", ".", "--bin", "troubleshooter"])
        .args(["--no-default-features", "--features", "cli", "--root"])
        .arg(&root)
        .arg("--target-dir")
        .arg(target_dir())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(install.status.success(), "{}", String::from_utf8_lossy(&install.stderr));
    let bin = root.join("bin");
    assert!(bin.join("troubleshooter").is_file(), "installed into {}", bin.display());
    // By its name alone, as the README's examples call it.
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let scan = Command::new("troubleshooter")
        .args(["scan", "events/mixed-batch.json"])
        .env("PATH", path)
        .env_remove("EXTRA_RULES_FILE")
        .env_remove("DISABLED_RULES")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&root);
    let text = String::from_utf8_lossy(&scan.stdout);
    assert!(scan.status.success(), "{}", String::from_utf8_lossy(&scan.stderr));
    assert!(text.contains("Lambda function ran out of memory"), "{text}");
    assert!(text.contains("in 25 log events"), "{text}");
}
